"""syncer's SQL against a hostile database: functions planted where a role may create them,
a database whose search_path puts them first, and standard_conforming_strings off."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest

from syncer import engine, health, migrate, push, roles
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.mirror import Mirror, desired_diff_sql
from syncer.models import StreamStats
from syncer.records import prepare
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

OPTIONS = {"unique:LOCATION": "serial_number"}
DESIRED = {
    "table": "analytics.desired_locations",
    "endpoint": "master:LOCATION",
    "key": "serial_number",
    "fields": ["name", "city"],
}

#: (signature, return type, the real call) of functions that would be chosen instead of
#: pg_catalog's: better overloads (integer for bigint, text for regclass or "any"), and same
#: signatures that win when their schema comes first in search_path
PLANTED = [
    ("hashtextextended(text, integer)", "bigint", "pg_catalog.hashtextextended($1, $2)"),
    ("nextval(text)", "bigint", "pg_catalog.nextval($1::regclass)"),
    ("jsonb_build_object(text, text)", "jsonb", "pg_catalog.jsonb_build_object($1, $2)"),
    ("to_jsonb(text)", "jsonb", "pg_catalog.to_jsonb($1)"),
    ("to_jsonb(integer)", "jsonb", "pg_catalog.to_jsonb($1)"),
    ("now()", "timestamptz", "pg_catalog.now()"),
    ("hashtext(text)", "integer", "pg_catalog.hashtext($1)"),
    ("pg_try_advisory_lock(bigint)", "boolean", "pg_catalog.pg_try_advisory_lock($1)"),
    ("pg_advisory_unlock(bigint)", "boolean", "pg_catalog.pg_advisory_unlock($1)"),
    ("jsonb_typeof(jsonb)", "text", "pg_catalog.jsonb_typeof($1)"),
    ("btrim(text)", "text", "pg_catalog.btrim($1)"),
    ("quote_literal(text)", "text", "pg_catalog.quote_literal($1)"),
    ("quote_ident(text)", "text", "pg_catalog.quote_ident($1)"),
    ("to_regclass(text)", "regclass", "pg_catalog.to_regclass($1)"),
    ("cardinality(text[])", "integer", "pg_catalog.cardinality($1)"),
    ("current_database()", "name", "pg_catalog.current_database()"),
]


async def plant(conn: asyncpg.Connection, schema: str) -> None:
    """Functions in `schema` that count their calls in a sequence (which no rollback undoes),
    then do what the real one does."""
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(f"CREATE SEQUENCE {schema}.planted_calls")
    await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO PUBLIC")
    for signature, returns, real in PLANTED:
        await conn.execute(
            f"CREATE FUNCTION {schema}.{signature} RETURNS {returns} LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_catalog.nextval('{schema}.planted_calls'); RETURN {real}; END $$"
        )
    # a set-returning one: text[] is a better match than pg_catalog's anyarray
    await conn.execute(
        f"CREATE FUNCTION {schema}.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_catalog.nextval('{schema}.planted_calls'); "
        f"RETURN QUERY SELECT pg_catalog.unnest($1); END $$"
    )


async def plant_operator(conn: asyncpg.Connection, schema: str) -> None:
    """`=` on text, which no SQL can schema-qualify in practice: only the pinned search_path
    keeps it from being chosen."""
    await conn.execute(
        f"CREATE FUNCTION {schema}.planted_text_eq(text, text) RETURNS boolean "
        f"LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_catalog.nextval('{schema}.planted_calls'); "
        f"RETURN $1 OPERATOR(pg_catalog.=) $2; END $$"
    )
    await conn.execute(
        f"CREATE OPERATOR {schema}.= "
        f"(LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.planted_text_eq)"
    )


async def planted_calls(conn: asyncpg.Connection, schema: str) -> int:
    row = await conn.fetchrow(f"SELECT last_value, is_called FROM {schema}.planted_calls")
    assert row is not None
    return int(row["last_value"]) if row["is_called"] else 0


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def run_everything(url: str, base_url: str, db: asyncpg.Connection) -> None:
    """Migrations, a full sync (typed view included), a push plan and push of a desired-state
    table, and grant-analyst."""
    config = exto_config(base_url, options=OPTIONS, desired=[DESIRED])
    await migrate.migrate(url)
    results = await engine.sync(config, url)
    assert [r.status for r in results] == ["succeeded"], [r.error for r in results]
    await db.execute(
        "CREATE SCHEMA analytics; CREATE TABLE analytics.desired_locations AS "
        "SELECT (_data->'customFields'->>'serial_number')::int AS serial_number, "
        "_data->'customFields'->>'name' AS name, 'Moved ' || _pk AS city "
        "FROM mirror.exto__master_location LIMIT 20"
    )
    [line] = await push.plan(config, url)
    assert (line["create"], line["update"]) == (0, 20)
    [pushed] = await push.push(config, url)
    assert pushed.accepted == 20
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    try:
        assert await roles.grant_analyst(url, role)
    finally:
        await db.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


async def test_functions_planted_in_public_never_run_even_when_the_database_puts_them_first(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    await plant(db, "public")
    await plant_operator(db, "public")
    await db.execute(
        f'ALTER DATABASE "{database_name(db_url)}" SET search_path = public, pg_catalog'
    )
    # the trap works: a session that takes the database's search_path runs them
    plain = await asyncpg.connect(db_url)
    try:
        await plain.fetchval("SELECT hashtextextended('x', 0), now(), 'a'::text = 'a'::text")
    finally:
        await plain.close()
    before = await planted_calls(db, "public")
    assert before == 3
    url, _ = await sandbox(master_records=300)
    await run_everything(db_url, url, db)
    assert await planted_calls(db, "public") == before


async def test_every_function_syncer_calls_is_schema_qualified(
    hostile_first: Mirror, sandbox: SandboxFactory, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=2_500)
    config = exto_config(url, options=OPTIONS, desired=[DESIRED])
    conn = config.connections[0]
    connector = CONNECTORS["exto"]
    spec = connector.stream("master:LOCATION", conn.options)
    async with VendorClient(conn, connector, conn.token().get_secret_value()) as client:
        for _ in range(2):  # the second pass infers deletes, re-reads missing keys
            result = await engine.sync_stream(
                hostile_first, client, spec, "full", "00000000-0000-0000-0000-000000000000"
            )
            assert result.status == "succeeded", result.error
            sb.data.generation(change_pct=1.0, delete_pct=1.0, insert_pct=1.0)
    await db.execute(
        "CREATE SCHEMA analytics; CREATE TABLE analytics.desired_locations AS "
        "SELECT (_data->'customFields'->>'serial_number')::int AS serial_number, "
        "_data->'customFields'->>'name' AS name, 'Moved ' || _pk AS city "
        "FROM mirror.exto__master_location LIMIT 5"
    )
    desired = conn.desired[0]
    ref = await hostile_first.ensure_stream("exto", "master:LOCATION")
    columns = await hostile_first.outbox.desired_columns(ref, spec.view, desired, ("customFields",))
    diff = desired_diff_sql(desired, ref.table, columns, spec.view)
    assert (await hostile_first.outbox.diff_desired(desired, diff))[:2] == (0, 5)
    key_field = columns.fields[desired.key][0][-1]
    assert await hostile_first.outbox.enqueue_desired("exto", desired, diff, key_field) == (0, 5, 0)
    push_id = await hostile_first.outbox.next_push_id()
    claimed = await hostile_first.outbox.claim("exto", push_id, 10)
    await hostile_first.outbox.release([claimed[-1].id], "not sent")
    await hostile_first.outbox.mark([claimed[0].id], "rejected", ["no"], None)
    await hostile_first.outbox.accept(
        [r.id for r in claimed[1:]], [None] * (len(claimed) - 1), [(claimed[0].id, claimed[1].id)]
    )
    await hostile_first.outbox.set_evidence([claimed[0].id], [{"seen": 1}])
    assert await hostile_first.outbox.plan(None) == []
    assert await hostile_first.store.recent_runs(5)
    [runs] = await health.stream_runs(hostile_first, [("exto", "master:LOCATION")])
    assert runs.last_status == "succeeded" and runs.good_run_id == runs.last_run_id
    async with hostile_first.stream_lock("exto", "master:LOCATION") as fence:
        assert await hostile_first.store.live_count(ref) > 0
        await hostile_first.store.hold_deletes(ref, ["a", "b"], 1, 1, fence)
        assert await hostile_first.store.clear_held(ref, fence) == 2
    assert await planted_calls(db, "hostile") == 0


#: field names that break literals written by hand, most of all with standard_conforming_strings
#: off (a backslash then escapes the quote that closes the literal)
HOSTILE_NAMES = [
    "it's",
    "\\",
    "\\'",
    "\\'; DROP TABLE public.canary; --",
    "'); DROP TABLE public.canary; --",
    "$$",
    "$$; DROP TABLE public.canary; $$",
    "E'\\x41'",
    'double "quote"',
    "new\nline",
    "%L %s %1$L",
]


async def test_typed_views_are_right_with_standard_conforming_strings_off(
    db_url: str, db: asyncpg.Connection
) -> None:
    await db.execute("CREATE TABLE public.canary (x int)")
    await db.execute(
        f'ALTER DATABASE "{database_name(db_url)}" SET standard_conforming_strings = off'
    )
    plain = await asyncpg.connect(db_url)
    try:
        assert await plain.fetchval("SHOW standard_conforming_strings") == "off"
    finally:
        await plain.close()
    spec = CONNECTORS["exto"].stream("master:LOCATION", {})
    records = [
        {"_id": f"r{i}", "customFields": {name: f"{i}:{name}" for name in HOSTILE_NAMES}}
        for i in range(3)
    ]
    prepared = prepare(records, spec.key, None, lenient=False, view=spec.view)
    async with Mirror.connect(db_url, max_size=2) as mirror:
        ref = await mirror.ensure_stream("exto", "master:HOSTILE")
        run_id = await mirror.store.start_run(str(uuid.uuid4()), ref, "full", None, 0)
        await mirror.store.merge_page(
            ref,
            run_id=run_id,
            pass_id=None,
            page=None,
            prepared=prepared,
            record_keys=False,
            stats=StreamStats(),
        )
        view = await mirror.views.refresh(ref, spec.view)
    assert await db.fetchval("SELECT to_regclass('public.canary') IS NOT NULL")
    mapping = {
        tuple(r["path"]): r["column_name"]
        for r in await db.fetch("SELECT path, column_name FROM syncer.stream_columns")
    }
    for name in HOSTILE_NAMES:
        column = mapping[("customFields", name)]
        values = await db.fetch(f'SELECT _pk, "{column}" AS v FROM {view} ORDER BY _pk')
        assert [(r["_pk"], r["v"]) for r in values] == [
            (f"r{i}", f"{i}:{name}") for i in range(3)
        ], name
