"""History (type-2) on real Postgres, the Exto sandbox over HTTP: every version of every key,
checked key by key against what the sandbox did, and nothing for keys that did not change."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import asyncpg
import pytest

from syncer import admin, engine
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.mirror import Mirror
from syncer.run import StreamResult
from syncer.settings import Config
from tests.conftest import SandboxFactory, exto_config
from tests.integration.history_check import HISTORY, MASTER, TABLE, Model, assert_history, versions
from tests.integration.test_sql_hardening import planted_calls

pytestmark = pytest.mark.integration


async def sync_once(config: Config, db_url: str) -> StreamResult:
    [result] = await engine.sync(config, db_url)
    assert result.status == "succeeded", result.error
    assert result.run_id is not None
    return result


def history_config(url: str, on: bool = True) -> Config:
    return exto_config(url, per_stream={MASTER: {"history": on}})


async def test_versions_follow_the_sandbox_through_generations(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Changes, deletes and reappearances over several generations give exactly the versions
    the sandbox went through, each in the run that saw it."""
    url, sb = await sandbox()
    config = history_config(url)
    model = Model()
    model.saw(sb, (await sync_once(config, db_url)).run_id or 0)
    collection = sb.collection("master", "LOCATION")
    assert collection is not None
    comeback: list[dict[str, object]] = []
    for round_ in range(3):
        before = {r["_id"]: r for r in sb.records("master", "LOCATION")}
        gen = sb.generation(change_pct=3.0, delete_pct=1.0, insert_pct=1.0)
        if round_ == 1:
            # keys deleted a generation ago come back as they were: undeleted, same hash
            collection.insert(comeback)
        result = await sync_once(config, db_url)
        model.saw(sb, result.run_id or 0)
        comeback = [before[k] for k in gen.deleted if k in before][:5]
        await assert_history(db, model)
    ops = {op for seen in model.versions.values() for op, _ in seen}
    assert ops == {"insert", "update", "delete", "undelete"}


async def test_an_unchanged_resync_writes_no_history_row(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, _ = await sandbox()
    config = history_config(url)
    await sync_once(config, db_url)
    before = await db.fetch(f"SELECT * FROM {HISTORY} ORDER BY _pk")
    assert len(before) == 3_000
    described = await db.fetch(
        "SELECT a.attname, col_description(a.attrelid, a.attnum) AS says FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0",
        HISTORY,
    )
    assert len(described) == 8 and all(r["says"] for r in described)
    table_says = await db.fetchval("SELECT obj_description(to_regclass($1), 'pg_class')", HISTORY)
    assert 'mirror."exto__master_location"' in table_says
    again = await sync_once(config, db_url)
    assert again.stats.unchanged == 3_000
    assert await db.fetch(f"SELECT * FROM {HISTORY} ORDER BY _pk") == before
    await db.execute("SELECT pg_stat_force_next_flush()")
    written = await db.fetchval(
        "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
        "WHERE schemaname = 'mirror_history'"
    )
    assert written == 3_000  # the first sync's inserts, nothing since


async def test_a_stream_without_history_has_no_table_and_no_trigger(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, _ = await sandbox()
    await sync_once(exto_config(url), db_url)
    assert await db.fetchval("SELECT to_regclass($1)", HISTORY) is None
    triggers = await db.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1)", f'mirror."{TABLE}"'
    )
    assert triggers == 0


async def test_turning_history_on_off_and_on_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """On for a stream with rows: they start as open versions from their _synced_at. Off: no
    trigger, the table kept, nothing recorded. On again: each key that changed meanwhile gets
    one version for its state now."""
    url, sb = await sandbox()
    await sync_once(exto_config(url), db_url)
    sb.generation(change_pct=2.0, delete_pct=1.0, insert_pct=1.0)
    await sync_once(exto_config(url), db_url)
    model = Model()
    gone = await db.fetch(f'SELECT _pk, _hash FROM mirror."{TABLE}" WHERE _deleted_at IS NOT NULL')
    assert gone
    model.versions = {r["_pk"]: [("delete", bytes(r["_hash"]))] for r in gone}
    on = await sync_once(history_config(url), db_url)
    model.saw(sb, 0)
    model.per_run = {}
    rows = await versions(db)
    synced = dict(
        await db.fetch(f'SELECT _pk, coalesce(_deleted_at, _synced_at) FROM mirror."{TABLE}"')
    )
    assert {k: v[0]["_valid_from"] for k, v in rows.items()} == synced
    assert {v[0]["_operation"] for v in rows.values()} == {"insert", "delete"}
    assert on.stats.inserted == on.stats.updated == 0  # the run changed nothing itself

    off = history_config(url, on=False)
    await sync_once(off, db_url)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1)", f'mirror."{TABLE}"'
        )
        == 0
    )
    kept = await db.fetchval(f"SELECT count(*) FROM {HISTORY}")
    sb.generation(change_pct=2.0, delete_pct=1.0, insert_pct=1.0)
    await sync_once(off, db_url)
    assert await db.fetchval(f"SELECT count(*) FROM {HISTORY}") == kept

    await sync_once(history_config(url), db_url)
    model.saw(sb, 0)
    got = await versions(db)
    assert {k: [(r["_operation"], bytes(r["_hash"])) for r in v] for k, v in got.items()} == (
        model.versions
    )
    for rows_ in got.values():
        for earlier, later in itertools.pairwise(rows_):
            assert earlier["_valid_to"] == later["_valid_from"]
    # on twice: nothing more
    count = await db.fetchval(f"SELECT count(*) FROM {HISTORY}")
    await sync_once(history_config(url), db_url)
    assert await db.fetchval(f"SELECT count(*) FROM {HISTORY}") == count


async def test_a_pushed_delete_is_a_version(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The mirror following a push records too (the triggers see every path)."""
    url, _ = await sandbox()
    first = await sync_once(history_config(url), db_url)
    key = await db.fetchval(f'SELECT min(_pk) FROM mirror."{TABLE}"')
    async with Mirror.connect(db_url) as mirror:
        assert await mirror.follow.delete_keys(TABLE, [key], first.run_id or 0) == 1
    rows = await db.fetch(
        f"SELECT _operation, _valid_to IS NULL AS open FROM {HISTORY} WHERE _pk = $1 "
        "ORDER BY _valid_from",
        key,
    )
    assert [tuple(r) for r in rows] == [("insert", False), ("delete", True)]


async def test_a_mistyped_stream_leaves_no_history_table(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """History on for a stream the vendor does not have: neither table stays behind."""
    url, _ = await sandbox()
    config = exto_config(url, streams=("master:LOCATOIN",), history=True)
    [result] = await engine.sync(config, db_url)
    assert result.status == "failed" and "LOCATOIN" in (result.error or "")
    assert await db.fetchval("SELECT to_regclass('mirror.exto__master_locatoin')") is None
    assert await db.fetchval("SELECT to_regclass('mirror_history.exto__master_locatoin')") is None


async def test_turning_on_twice_at_once_opens_each_key_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Two processes turning history on at the same moment (no stream lock between them):
    one version per key, and the triggers once."""
    url, _ = await sandbox()
    await sync_once(exto_config(url), db_url)
    async with Mirror.connect(db_url) as one, Mirror.connect(db_url) as two:
        ref = await one.ensure_stream("exto", MASTER)
        changes = await asyncio.gather(one.history.apply(ref, True), two.history.apply(ref, True))
    assert sorted(c.opened for c in changes) == [0, 3_000]
    assert await db.fetchval(f"SELECT count(DISTINCT _pk) FROM {HISTORY}") == 3_000
    assert await db.fetchval(f"SELECT count(*) FROM {HISTORY}") == 3_000
    triggers = await db.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1)", f'mirror."{TABLE}"'
    )
    assert triggers == 2


async def test_deletes_an_operator_confirms_are_versions_of_that_run(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """`syncer deletes confirm` applies held deletes: each is a delete version of its run."""
    url, sb = await sandbox()
    config = history_config(url)
    model = Model()
    model.saw(sb, (await sync_once(config, db_url)).run_id or 0)
    sb.generation(change_pct=0, delete_pct=50, insert_pct=0)
    [held] = await engine.sync(config, db_url)
    assert held.stats.held_deletes == 1_500
    assert await db.fetchval(f"SELECT count(*) FROM {HISTORY}") == 3_000  # nothing yet
    assert await admin.confirm_deletes(db_url, f"exto/{MASTER}") == 1_500
    confirm_run = await db.fetchval("SELECT max(run_id) FROM syncer.runs")
    model.saw(sb, confirm_run)
    await assert_history(db, model)


async def test_history_calls_no_planted_function(
    hostile_first: Mirror, sandbox: SandboxFactory, db: asyncpg.Connection, token_env: str
) -> None:
    """Turning history on, its triggers through two passes with changes and deletes, off and
    on again: every function called is schema-qualified (or the trigger's path is pinned)."""
    url, sb = await sandbox()
    conn = history_config(url).connections[0]
    spec = CONNECTORS["exto"].stream(MASTER, conn.options)
    async with VendorClient(conn, CONNECTORS["exto"], conn.token().get_secret_value()) as client:
        for _ in range(2):
            result = await engine.sync_stream(
                hostile_first, client, spec, "full", str(uuid.uuid4())
            )
            assert result.status == "succeeded", result.error
            sb.generation(change_pct=2.0, delete_pct=1.0, insert_pct=1.0)
    ref = await hostile_first.ensure_stream("exto", MASTER)
    assert (await hostile_first.history.apply(ref, False)).turned == "off"
    assert (await hostile_first.history.apply(ref, True)).turned == "on"
    ops = {r[0] for r in await db.fetch(f"SELECT DISTINCT _operation FROM {HISTORY}")}
    assert ops == {"insert", "update", "delete"}
    assert await planted_calls(db, "hostile") == 0
