"""Typed views that survive an analyst's objects, a schema-change log, and comments an analyst
reads: real Postgres, the Exto sandbox over HTTP, the analyst's objects owned by another role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncer import engine, errors, migrate, roles
from syncer.mirror import views
from syncer.mirror.view_schema import ABSENT_PASSES, version_mark
from syncer.run import StreamResult
from syncer.sandbox.exto import ExtoSandbox
from tests.commands import write_config
from tests.conftest import SandboxFactory, exto_config
from tests.faults.harness import run, spawn, syncer_env

pytestmark = pytest.mark.integration

TABLE = "exto__master_location"
VIEW = f'mirror_view."{TABLE}"'


def _edit(sb: ExtoSandbox, count: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the custom fields of the master's first `count` records in the sandbox."""
    coll = sb.collection("master", "LOCATION")
    assert coll is not None
    changes = {}
    for seq in coll.seqs()[:count]:
        record = coll.get(seq)
        change(record["customFields"])
        changes[seq] = record
    coll.replace(changes)


async def _sync(url: str, db_url: str) -> StreamResult:
    [result] = await engine.sync(exto_config(url), db_url)
    assert result.exit_code == errors.ExitCode.OK, (result.error, result.stats.warnings)
    return result


async def _columns(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
        "WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum",
        VIEW,
    )
    return {r["attname"]: r["type"] for r in rows}


async def _changes(db: asyncpg.Connection, *kinds: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM syncer.schema_changes WHERE kind = ANY($1) ORDER BY id", list(kinds)
    )


async def test_analyst_objects_survive_a_new_field_and_a_type_change(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    role_names: Callable[[str], str],
) -> None:
    """A view and a materialized view on the typed view, owned by another role: a new field
    and a type change later, the sync exits 0, the typed view gains the new columns (the old
    ones keep name, type and place), and the analyst's objects still answer."""
    url, sb = await sandbox(master_records=400)
    await _sync(url, db_url)
    before = await _columns(db)
    assert before["latitude"] == "numeric"
    analyst = role_names("bi")
    await db.execute(
        f'CREATE ROLE "{analyst}"; CREATE SCHEMA work AUTHORIZATION "{analyst}"; '
        f'GRANT USAGE ON SCHEMA mirror_view TO "{analyst}"; '
        f'GRANT SELECT ON ALL TABLES IN SCHEMA mirror_view TO "{analyst}"'
    )
    async with db.transaction():
        await db.execute(f'SET LOCAL ROLE "{analyst}"')
        await db.execute(f"CREATE VIEW work.places AS SELECT _pk, latitude, country FROM {VIEW}")
        await db.execute(f"CREATE MATERIALIZED VIEW work.snapshot AS SELECT * FROM {VIEW}")

    _edit(sb, 5, lambda fields: fields.update(region="north"))
    flipped = set(sb.flip_types(20))
    result = await _sync(url, db_url)

    after = await _columns(db)
    assert list(after)[: len(before)] == list(before)  # same names, same order...
    assert {n: after[n] for n in before} == before  # ...same types
    assert after["region"] == "text"
    assert after["latitude_jsonb"] == "jsonb"
    added = [n for n in after if n not in before]
    assert set(added) == {"region", "latitude_jsonb", "opened_on_jsonb", "country_jsonb"}

    # the old column holds the values that still fit its type, the new one every value
    rows = await db.fetch(f"SELECT _pk, latitude, latitude_jsonb FROM {VIEW}")
    for r in rows:
        if r["_pk"] in flipped:
            assert r["latitude"] is None and r["latitude_jsonb"].startswith('"')
        else:
            assert r["latitude"] is not None
    async with db.transaction():
        await db.execute(f'SET LOCAL ROLE "{analyst}"')
        assert await db.fetchval("SELECT count(*) FROM work.places") == 400
        await db.execute("REFRESH MATERIALIZED VIEW work.snapshot")
        assert await db.fetchval("SELECT count(*) FROM work.snapshot") == 400

    new = await _changes(db, "new_field")
    region = [c for c in new if c["column_name"] == "region"]
    assert len(region) == 1 and region[0]["run_id"] == result.run_id
    assert region[0]["path"] == ["customFields", "region"]
    [latitude] = [
        c for c in await _changes(db, "type_change") if c["column_name"] == "latitude_jsonb"
    ]
    assert (latitude["old_type"], latitude["new_type"]) == ("numeric", "jsonb")
    assert latitude["run_id"] == result.run_id and "latitude_jsonb" in latitude["detail"]
    warnings = " | ".join(result.stats.warnings)
    assert "latitude_jsonb" in warnings and "region" in warnings
    described = await db.fetchval(
        "SELECT col_description($1::regclass, attnum) FROM pg_attribute "
        "WHERE attrelid = $1::regclass AND attname = 'latitude_jsonb'",
        VIEW,
    )
    assert described.startswith("Field customFields.latitude ")
    assert "JSON kinds seen: number, string" in described and "this column since" in described

    # nothing new: no change logged, the view as it was
    logged = await db.fetchval("SELECT count(*) FROM syncer.schema_changes")
    await _sync(url, db_url)
    assert await db.fetchval("SELECT count(*) FROM syncer.schema_changes") == logged
    assert await _columns(db) == after


async def test_first_view_logs_each_column_and_comments_everything_for_the_analyst(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    role_names: Callable[[str], str],
) -> None:
    """The first sync logs each typed column as a new field of its run (no warning: nothing
    changed for anyone yet); the analyst role reads the comments of the table, the view and
    every column."""
    url, _ = await sandbox(master_records=200)
    result = await _sync(url, db_url)
    typed = [n for n in await _columns(db) if not n.startswith("_")]
    logged = await _changes(db, "new_field")
    assert sorted(c["column_name"] for c in logged) == sorted(typed)
    assert {c["run_id"] for c in logged} == {result.run_id}
    assert not [w for w in result.stats.warnings if "got column" in w]

    role = role_names("analyst")
    await roles.grant_analyst(db_url, role)
    async with db.transaction():
        await db.execute(f'SET LOCAL ROLE "{role}"')
        table = await db.fetchval(f"SELECT obj_description('mirror.\"{TABLE}\"'::regclass)")
        view = await db.fetchval(f"SELECT obj_description('{VIEW}'::regclass)")
        comments = {
            r["attname"]: r["comment"]
            for r in await db.fetch(
                "SELECT attname, col_description(attrelid, attnum) AS comment FROM pg_attribute "
                "WHERE attrelid = $1::regclass AND attnum > 0",
                VIEW,
            )
        }
        synced = await db.fetchval(
            f"SELECT col_description('mirror.\"{TABLE}\"'::regclass, attnum) FROM pg_attribute "
            f"WHERE attrelid = 'mirror.\"{TABLE}\"'::regclass AND attname = '_deleted_at'"
        )
    assert "exto stream master:LOCATION" in table and "connection exto" in table
    assert "mirror_view." + TABLE in table and "never dropped" in view
    assert all(comments.values()), [n for n, c in comments.items() if not c]
    assert comments["latitude"].startswith("Field customFields.latitude")
    assert (
        "JSON kinds seen: number" in comments["latitude"]
        and "first seen 20" in comments["latitude"]
    )
    assert "vendor last sent" in comments["_data"]
    assert "found the record gone" in synced


async def test_a_field_absent_from_three_complete_passes_is_logged_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A field no record holds any more: logged as absent after the third complete pass
    without it, once; its column stays. Seen again, the count starts over."""
    url, sb = await sandbox(master_records=200)
    _edit(sb, 3, lambda fields: fields.update(region="north"))
    await _sync(url, db_url)
    _edit(sb, 3, lambda fields: fields.pop("region"))
    for _ in range(ABSENT_PASSES - 1):
        await _sync(url, db_url)
        assert await _changes(db, "field_absent") == []
    third = await _sync(url, db_url)
    [absent] = await _changes(db, "field_absent")
    assert absent["path"] == ["customFields", "region"] and absent["run_id"] == third.run_id
    assert any("region" in w and "complete passes" in w for w in third.stats.warnings)
    await _sync(url, db_url)
    assert len(await _changes(db, "field_absent")) == 1
    assert "region" in await _columns(db)
    # seen again, then gone again: three more passes before it is logged again
    _edit(sb, 1, lambda fields: fields.update(region="south"))
    await _sync(url, db_url)
    count = await db.fetchval(
        "SELECT absent_passes FROM syncer.stream_columns WHERE path = $1",
        ["customFields", "region"],
    )
    assert count == 0


async def test_unchanged_resync_writes_no_field_bookkeeping(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Every field seen by every pass: the end of a pass updates no stream_columns row, and
    the fields a pass saw go with it."""
    url, _ = await sandbox(master_records=200)
    await _sync(url, db_url)
    await db.execute("SELECT pg_stat_force_next_flush()")
    before = await db.fetchval(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'syncer.stream_columns'::regclass"
    )
    await _sync(url, db_url)
    await db.execute("SELECT pg_stat_force_next_flush()")
    after = await db.fetchval(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'syncer.stream_columns'::regclass"
    )
    assert after == before
    assert await db.fetchval("SELECT count(*) FROM syncer.pass_fields") == 0


async def test_a_view_postgres_will_not_replace_is_kept_and_the_sync_goes_on(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Someone remade the typed view with a column of another type: the new definition is
    refused, the view is left as it is, a warning says so, and the sync still exits 0."""
    url, sb = await sandbox(master_records=200)
    await _sync(url, db_url)
    await db.execute(
        f"DROP VIEW {VIEW}; CREATE VIEW {VIEW} AS SELECT _pk, 'x'::text AS latitude "
        f"FROM mirror.\"{TABLE}\"; COMMENT ON VIEW {VIEW} IS 'remade by hand'"
    )
    _edit(sb, 2, lambda fields: fields.update(region="north"))
    result = await _sync(url, db_url)
    assert any("was left as it is" in w for w in result.stats.warnings)
    assert list(await _columns(db)) == ["_pk", "latitude"]
    assert await _changes(db, "new_field", "type_change") == [
        c for c in await _changes(db, "new_field") if c["run_id"] != result.run_id
    ]


async def test_a_resumed_pass_keeps_the_fields_it_saw_before_the_crash(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    tmp_path: Path,
) -> None:
    """A field only on the first page's records: a pass killed after that page and resumed
    still counts the field as seen (the pass's fields commit with its pages)."""
    url, sb = await sandbox(master_records=2_500)
    _edit(sb, 3, lambda fields: fields.update(region="north"))
    config = str(write_config(tmp_path, url))
    assert (await run("sync", "--config", config, env=syncer_env(db_url))).code == 0
    await db.execute(
        "UPDATE syncer.stream_columns SET absent_passes = 1 WHERE path = $1",
        ["customFields", "region"],
    )
    killed = await spawn(
        "sync", "--config", config, env=syncer_env(db_url, SYNCER_KILL_AT="after_commit:1")
    )
    assert await killed.wait() < 0
    seen = {tuple(r["path"]) for r in await db.fetch("SELECT path FROM syncer.pass_fields")}
    assert ("customFields", "region") in seen
    resumed = await run("sync", "--config", config, env=syncer_env(db_url))
    assert resumed.code == 0, resumed.err[-500:]
    assert (
        await db.fetchval("SELECT resumed_from_page FROM syncer.runs ORDER BY run_id DESC LIMIT 1")
        == 1
    )
    count = await db.fetchval(
        "SELECT absent_passes FROM syncer.stream_columns WHERE path = $1",
        ["customFields", "region"],
    )
    assert count == 0  # seen by the pass (page 1, before the crash), so the count starts over


async def test_a_view_busy_with_an_analysts_query_is_replaced_by_a_later_run(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An analyst's transaction holds the typed view: the refresh waits VIEW_LOCK_TIMEOUT at
    most, the sync exits 0 with a warning, and the next run, with nothing new, adds the
    column."""
    monkeypatch.setattr(views, "VIEW_LOCK_TIMEOUT", "200ms")
    url, sb = await sandbox(master_records=200)
    await _sync(url, db_url)
    _edit(sb, 2, lambda fields: fields.update(region="north"))
    reader = await asyncpg.connect(db_url)
    try:
        async with reader.transaction():
            await reader.fetchval(f"SELECT count(*) FROM {VIEW}")
            busy = await _sync(url, db_url)
    finally:
        await reader.close()
    assert any("was left as it is" in w and "lock timeout" in w for w in busy.stats.warnings)
    assert "region" not in await _columns(db)
    later = await _sync(url, db_url)
    assert "region" in await _columns(db)
    [region] = [c for c in await _changes(db, "new_field") if c["column_name"] == "region"]
    assert region["run_id"] == later.run_id


async def test_a_dropped_view_comes_back_with_every_column_it_published(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """An operator dropped the typed view: the next run makes it again with the columns it
    had, in their order, type-change columns included, and comments them."""
    url, sb = await sandbox(master_records=200)
    await _sync(url, db_url)
    sb.flip_types(10)
    await _sync(url, db_url)
    had = await _columns(db)
    assert "latitude_jsonb" in had
    await db.execute(f"DROP VIEW {VIEW}")
    await _sync(url, db_url)
    assert await _columns(db) == had
    assert await db.fetchval(f"SELECT obj_description('{VIEW}'::regclass)")


async def test_migration_publishes_the_columns_existing_views_have_in_their_order(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A database from before migration 0015 (its view made by DROP and CREATE, no published
    columns, no comments): the migration publishes the view's columns in the view's order,
    and the next run with a new field replaces the view, keeping them."""
    url, sb = await sandbox(master_records=200)
    await _sync(url, db_url)
    had = await _columns(db)
    await db.execute(
        "DROP TABLE syncer.view_columns, syncer.pass_fields; "
        "ALTER TABLE syncer.stream_columns DROP COLUMN absent_passes; "
        "ALTER TABLE syncer.passes DROP COLUMN fields_tracked; "
        "DELETE FROM syncer.schema_migrations WHERE version = '0015_view_columns'; "
        f"COMMENT ON VIEW {VIEW} IS NULL"
    )
    assert await migrate.migrate(db_url) == ["0015_view_columns"]
    published = await db.fetch("SELECT column_name FROM syncer.view_columns ORDER BY seq")
    assert [r["column_name"] for r in published] == [n for n in had if not n.startswith("_")]
    _edit(sb, 2, lambda fields: fields.update(region="north"))
    await _sync(url, db_url)
    after = await _columns(db)
    assert list(after)[: len(had)] == list(had) and list(after)[len(had) :] == ["region"]


async def test_a_view_of_an_older_definition_is_replaced_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A view made by an older definition (its comment carries another version mark) is
    replaced at the next run though no field changed, and only then."""
    url, _ = await sandbox(master_records=200)
    await _sync(url, db_url)
    await db.execute(f"COMMENT ON VIEW {VIEW} IS 'made by [syncer typed view v0]'")
    oid = await db.fetchval("SELECT $1::regclass::oid", VIEW)
    rule = "SELECT xmin::text FROM pg_rewrite WHERE ev_class = $1"  # the view's definition
    before = await db.fetchval(rule, oid)
    await _sync(url, db_url)
    assert version_mark() in await db.fetchval(f"SELECT obj_description('{VIEW}'::regclass)")
    assert await db.fetchval("SELECT $1::regclass::oid", VIEW) == oid  # replaced, not remade
    replaced = await db.fetchval(rule, oid)
    assert replaced != before
    await _sync(url, db_url)
    assert await db.fetchval(rule, oid) == replaced
