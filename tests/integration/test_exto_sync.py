"""Exto pulled into real Postgres from the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest

from syncer import engine, errors
from syncer.connectors import exto
from syncer.http import VendorClient
from syncer.mirror import Mirror
from syncer.run import StreamResult
from syncer.sandbox.exto import ExtoSandbox
from tests.conftest import TOKEN, SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals, live

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"


def master_ids_of(sb: ExtoSandbox) -> set[str]:
    return {r["_id"] for r in sb.records("master", "LOCATION")}


async def _writes(db: asyncpg.Connection) -> int:
    """Rows inserted, updated or deleted in mirror tables so far (statistics are per database)."""
    await db.execute("SELECT pg_stat_force_next_flush()")
    value = await db.fetchval(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
        "WHERE schemaname = 'mirror'"
    )
    return int(value)


async def test_full_sync_equals_the_sandbox(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Every stream's mirror holds exactly the sandbox's keys with the same content hashes."""
    url, sb = await sandbox()
    streams = (MASTER, "module:INSPECTION", "users", "groups")
    results = await engine.sync(exto_config(url, streams=streams), db_url)
    assert [r.status for r in results] == ["succeeded"] * 4, [r.error for r in results]
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    await assert_mirror_equals(
        db, "exto__module_inspection", sb.records("module", "INSPECTION"), "module:INSPECTION"
    )
    await assert_mirror_equals(db, "exto__users", sb.records("users"), "users")
    await assert_mirror_equals(db, "exto__groups", sb.records("groups"), "groups")
    master = results[0].stats
    assert master.inserted == len(sb.records("master", "LOCATION")) == master.records
    run = await db.fetchrow("SELECT * FROM syncer.runs WHERE stream = $1", MASTER)
    assert run["status"] == "succeeded" and run["inserted"] == master.inserted
    assert run["pages"] == master.pages == 3


async def test_second_sync_writes_nothing(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Re-reading unchanged data inserts, updates and deletes zero mirror rows."""
    url, _ = await sandbox()
    config = exto_config(url, streams=(MASTER, "users", "groups"))
    await engine.sync(config, db_url)
    before = await _writes(db)
    results = await engine.sync(config, db_url)
    assert await _writes(db) == before
    for r in results:
        assert (r.stats.inserted, r.stats.updated, r.stats.deleted) == (0, 0, 0)
        assert r.stats.unchanged == r.stats.records > 0


async def test_generation_updates_inserts_and_deletes_exactly(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """1% changed rows are updated, new ones inserted, deleted ones soft-deleted once confirmed."""
    url, sb = await sandbox(master_records=5_000)
    config = exto_config(url)
    await engine.sync(config, db_url)
    before = master_ids_of(sb)
    gen = sb.generation(change_pct=1.0, delete_pct=0.5, insert_pct=0.4)
    master_ids = master_ids_of(sb)
    changed = [i for i in gen.changed if i in master_ids]
    [result] = await engine.sync(config, db_url)
    stats = result.stats
    inserted = [i for i in gen.inserted if i in master_ids]
    deleted = await db.fetch(f'SELECT _pk FROM mirror."{TABLE}" WHERE _deleted_at IS NOT NULL')
    assert stats.updated == len(changed) > 0
    assert stats.inserted == len(inserted) > 0
    assert {r["_pk"] for r in deleted} == set(gen.deleted) & before
    assert stats.deleted == len(deleted) > 0
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    # a record that comes back is undeleted
    assert await db.fetchval(
        f'SELECT count(*) FROM mirror."{TABLE}" WHERE _deleted_at IS NULL'
    ) == len(master_ids)


async def test_without_key_lookup_a_delete_needs_two_complete_passes(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Without re-reading by key, a key missing once is kept; missing twice, it is deleted."""
    url, sb = await sandbox()
    config = exto_config(url)
    conn = config.connections[0]
    spec = dataclasses.replace(exto.stream(MASTER, {}), lookup_params=None)

    async def run_once() -> StreamResult:
        async with Mirror.connect(db_url) as mirror, VendorClient(conn, exto.connector, TOKEN) as c:
            return await engine.sync_stream(
                mirror, c, spec, "full", "00000000-0000-0000-0000-000000000000"
            )

    await run_once()
    before = master_ids_of(sb)
    gen = sb.generation(change_pct=0, delete_pct=1.0, insert_pct=0)
    assert gen.deleted
    first = await run_once()
    assert first.stats.deleted == 0
    assert len(await live(db, TABLE)) == 3_000
    second = await run_once()
    assert second.stats.deleted == len(set(gen.deleted) & before) > 0
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


async def test_offset_shift_during_paging_never_deletes_a_live_record(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Deletes between page fetches make offset paging skip live rows; none is marked deleted."""
    url, sb = await sandbox(master_records=6_000)
    config = exto_config(url, window=1)
    await engine.sync(config, db_url)
    sb.config.churn_deletes_per_page = 3
    sb.config.churn_inserts_per_page = 2
    [shifted] = await engine.sync(config, db_url)
    sb.config.churn_deletes_per_page = 0
    sb.config.churn_inserts_per_page = 0
    assert shifted.status == "succeeded"
    alive = {r["_id"] for r in sb.records("master", "LOCATION")}
    wrongly_deleted = await db.fetch(
        f'SELECT _pk FROM mirror."{TABLE}" WHERE _deleted_at IS NOT NULL AND _pk = ANY($1)',
        list(alive),
    )
    assert wrongly_deleted == []
    [settled] = await engine.sync(config, db_url)
    assert settled.status == "succeeded"
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


async def test_incremental_reads_only_recent_changes_and_never_deletes(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Incremental mode filters on updatedAt - lookback and infers no deletes."""
    url, sb = await sandbox(master_records=4_000)
    config = exto_config(url)
    await engine.sync(config, db_url)
    before = master_ids_of(sb)
    gen = sb.generation(change_pct=2.0, delete_pct=0.5, insert_pct=0.5)
    sb.reset_log()
    [result] = await engine.sync(config, db_url, mode="incremental")
    assert result.mode == "incremental"
    assert all("updatedAt:DATE:ge:" in e.query.get("filter", "") for e in sb.request_log)
    assert result.stats.records < 1_000  # only the changed and the new, not 4,000
    assert result.stats.deleted == 0
    alive = {r["_id"] for r in sb.records("master", "LOCATION")}
    assert result.stats.inserted == len([i for i in gen.inserted if i in alive])
    rows = await live(db, TABLE)
    assert set(gen.deleted) & before <= rows.keys()  # still there: never deleted


async def test_poison_records_are_quarantined_and_neighbours_land(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """NUL, lone surrogates, NaN, no key and >10 MB go to quarantine; every good record lands."""
    url, sb = await sandbox(poison=True)
    [result] = await engine.sync(exto_config(url), db_url)
    assert result.status == "quarantined"
    assert result.exit_code == errors.ExitCode.QUARANTINED
    reasons = {r["reason"] for r in await db.fetch("SELECT reason FROM syncer.quarantine")}
    assert any("NUL" in r for r in reasons)
    assert any("surrogate" in r for r in reasons)
    assert any("NaN" in r for r in reasons)
    assert any("no key" in r for r in reasons)
    assert any("larger than" in r for r in reasons)
    rows = await live(db, TABLE)
    good = [
        r
        for r in sb.records("master", "LOCATION")
        if r.get("_id")
        and r["_id"] not in {q["key"] for q in await db.fetch("SELECT key FROM syncer.quarantine")}
    ]
    assert {r["_id"] for r in good} <= rows.keys()
    run = await db.fetchrow("SELECT status, quarantined FROM syncer.runs")
    assert run["status"] == "quarantined" and run["quarantined"] == result.stats.quarantined >= 5


async def test_bad_token_fails_with_the_auth_code_and_no_secret(
    sandbox: SandboxFactory, db_url: str, monkeypatch: pytest.MonkeyPatch, token_env: str
) -> None:
    """A 401 is not retried; the stream fails with exit code 6 and the message hides the token."""
    url, sb = await sandbox()
    monkeypatch.setenv(token_env, "wrong-token-0123456789")
    [result] = await engine.sync(exto_config(url), db_url)
    assert result.exit_code == errors.ExitCode.AUTH_OR_CONFIG
    assert result.error is not None and "wrong-token" not in result.error
    assert "page 1" in result.error and token_env in result.error
    assert len(sb.request_log) == 1


async def test_two_concurrent_runs_exactly_one_proceeds(
    sandbox: SandboxFactory, db_url: str, token_env: str
) -> None:
    """The second run of a stream finds the advisory lock taken and reports already_running."""
    url, _ = await sandbox(latency_ms=50)
    config = exto_config(url, window=1)
    results = await asyncio.gather(engine.sync(config, db_url), engine.sync(config, db_url))
    statuses = sorted(r[0].status for r in results)
    assert statuses == ["already_running", "succeeded"]
    assert errors.worst(r[0].exit_code for r in results) == errors.ExitCode.ALREADY_RUNNING


async def test_typed_view_exposes_fields_as_columns(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Analysts select custom fields by name, typed, from mirror_view."""
    url, sb = await sandbox()
    await engine.sync(exto_config(url), db_url)
    cols = {
        r["column_name"]: r["data_type"]
        for r in await db.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'mirror_view' AND table_name = $1",
            TABLE,
        )
    }
    assert cols["updated_at"] == "timestamp with time zone"
    assert cols["serial_number"] == "numeric"
    count = await db.fetchval(f'SELECT count(serial_number) FROM mirror_view."{TABLE}"')
    assert count == len(sb.records("master", "LOCATION"))


@pytest.mark.parametrize("retry_after", [True, False])
async def test_429s_pause_the_credential_and_lose_nothing(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    retry_after: bool,
) -> None:
    """Paced at 6/s against a 3/s vendor: 429s come, every page still lands, syncer never sends
    more than its own limit in any second, and after a Retry-After it waits before sending."""
    url, sb = await sandbox(master_records=8_000, rate_limit=3, retry_after=retry_after)
    [result] = await engine.sync(exto_config(url, rate_limit=6, headroom=1.0), db_url)
    assert result.status == "succeeded", result.error
    assert result.stats.rate_limited == sb.count_status(429) > 0
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    sent = sorted(e.at for e in sb.request_log)
    assert max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent) <= 6
    assert sb.max_in_window(TOKEN) <= 3
    if retry_after:
        for limited in (e.at for e in sb.request_log if e.status == 429):
            early = [t for t in sent if limited + 0.05 < t < limited + 0.95]
            assert early == [], "a request went out during the Retry-After pause"


async def test_a_key_that_reappears_is_undeleted(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A soft-deleted row whose key the vendor serves again comes back to life."""
    url, sb = await sandbox()
    config = exto_config(url)
    await engine.sync(config, db_url)
    some = sb.records("master", "LOCATION")[7]["_id"]
    await db.execute(f'UPDATE mirror."{TABLE}" SET _deleted_at = now() WHERE _pk = $1', some)
    [result] = await engine.sync(config, db_url)
    assert (result.stats.inserted, result.stats.updated) == (0, 1)
    assert (
        await db.fetchval(f'SELECT _deleted_at FROM mirror."{TABLE}" WHERE _pk = $1', some) is None
    )
