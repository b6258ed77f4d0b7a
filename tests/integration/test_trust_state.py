"""Deletes held over the guard, a cursor that cannot go blind, an operator's resets, and fencing
tokens that stop a run whose lock vanished (issue 10, parts 1, 2 and 6): real Postgres, the Exto
sandbox over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import pytest

from syncer import admin, engine, errors
from syncer.run import StreamResult
from tests.conftest import SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals, live
from tests.integration.test_trust_passes import loaded

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"
STREAM = "exto/master:LOCATION"


async def sync(url: str, db_url: str, mode: str = "full", **conn: object) -> StreamResult:
    conn.setdefault("page_size", 100)
    [result] = await engine.sync(exto_config(url, **conn), db_url, mode=mode)
    return result


async def test_deletes_over_the_share_are_held_until_an_operator_confirms(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await loaded(sandbox, db_url)
    sb.generation(change_pct=0, delete_pct=50, insert_pct=0)
    result = await sync(url, db_url)
    assert (result.stats.deleted, result.stats.held_deletes) == (0, 1_500)
    assert result.exit_code == errors.ExitCode.QUARANTINED
    assert any("1500 deletes held" in w and "deletes confirm" in w for w in result.stats.warnings)
    assert len(await live(db, TABLE)) == 3_000
    [held] = await admin.held(db_url)
    assert (held["stream"], held["keys"]) == (MASTER, 1_500)
    assert await admin.confirm_deletes(db_url, STREAM) == 1_500
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    assert await admin.held(db_url) == []
    run = await db.fetchrow("SELECT mode, deleted FROM syncer.runs ORDER BY run_id DESC LIMIT 1")
    assert (run["mode"], run["deleted"]) == ("deletes", 1_500)


async def test_discarded_deletes_are_decided_afresh_by_the_next_pass(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await loaded(sandbox, db_url)
    sb.generation(change_pct=0, delete_pct=40, insert_pct=0)
    assert (await sync(url, db_url)).stats.held_deletes == 1_200
    assert await admin.discard_deletes(db_url, MASTER) == 1_200
    assert await admin.held(db_url) == [] and len(await live(db, TABLE)) == 3_000
    assert (await sync(url, db_url)).stats.held_deletes == 1_200
    raised = await sync(url, db_url, max_delete_share=0.5)
    assert (raised.stats.deleted, raised.stats.held_deletes) == (1_200, 0)
    assert await admin.held(db_url) == []


async def test_deletes_within_the_share_are_applied_at_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await loaded(sandbox, db_url)
    sb.generation(change_pct=0, delete_pct=5, insert_pct=0)
    result = await sync(url, db_url)
    assert (result.stats.deleted, result.stats.held_deletes) == (150, 0)
    assert result.exit_code == errors.ExitCode.OK
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


async def test_a_held_key_seen_again_leaves_the_held_list(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Any page that holds a held key again (here an incomplete pass) takes it off the list."""
    url, sb = await loaded(sandbox, db_url)
    keys = sorted(await live(db, TABLE))
    await db.execute(
        "INSERT INTO syncer.held_deletes (stream_id, key, pass_id, run_id) "
        "SELECT 1, k, 1, 1 FROM unnest($1::text[]) k",
        [keys[0], keys[-1]],
    )
    sb.config.apply({"short_pages": [30]})  # the last record is never read
    assert (await sync(url, db_url)).status == "incomplete"
    assert [r["key"] for r in await db.fetch("SELECT key FROM syncer.held_deletes")] == [keys[-1]]


async def test_a_record_stamped_in_the_future_cannot_blind_the_cursor(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """One record with updatedAt 2999: stored and flagged; the cursor stops at the pass's start,
    so later changes still reach the mirror through incremental runs."""
    url, sb = await loaded(sandbox, db_url)
    far = int(datetime(2999, 1, 1, tzinfo=UTC).timestamp() * 1000)
    [future_id] = sb.data.restamp(1, far)
    started = await db.fetchval("SELECT now()")
    result = await sync(url, db_url)
    assert result.status == "succeeded"
    assert any("1 records carry an updatedAt in the future" in w for w in result.stats.warnings)
    cursor = await db.fetchval("SELECT cursor FROM syncer.stream_state")
    assert started <= cursor <= await db.fetchval("SELECT now()")
    # the vendor's clock is this machine's from now on: its changes come after the cursor
    sb.data.generation_epoch_ms = int(time.time() * 1000) + 60_000
    sb.data.generation_step_ms = 1_000
    sb.generation(change_pct=2, delete_pct=0, insert_pct=1)
    incremental = await sync(url, db_url, mode="incremental")
    assert incremental.mode == "incremental"
    assert (incremental.stats.updated, incremental.stats.inserted) == (60, 30)
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    assert future_id in await live(db, TABLE)


async def test_a_cursor_already_in_the_future_reads_in_full_and_is_pulled_back(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, _ = await loaded(sandbox, db_url)
    await db.execute("UPDATE syncer.stream_state SET cursor = '2999-01-01'")
    result = await sync(url, db_url, mode="incremental")
    assert result.mode == "full" and any("is in the future" in w for w in result.stats.warnings)
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") < datetime.now(UTC)


async def test_an_operator_resets_the_cursor_and_drops_a_pass_in_progress(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await loaded(sandbox, db_url)
    sb.config.fault_rate = 1.0  # every request fails: the pass stays in progress
    sb.config.fault_kinds = ("500",)
    failed = await sync(url, db_url, max_attempts=1)
    assert failed.status == "failed"
    pass_id = await db.fetchval("SELECT pass_id FROM syncer.passes")
    assert pass_id is not None
    when = datetime(2025, 1, 2, tzinfo=UTC)
    done = await admin.reset(db_url, STREAM, cursor=when, set_cursor=True, drop_pass=True)
    assert (done.cursor_after, done.dropped_passes) == (when, (pass_id,))
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") == when
    assert await db.fetchval("SELECT count(*) FROM syncer.passes") == 0
    cleared = await admin.reset(db_url, MASTER, cursor=None, set_cursor=True, drop_pass=False)
    assert cleared.cursor_before == when and cleared.cursor_after is None
    with pytest.raises(errors.ConfigError, match="no stream"):
        await admin.reset(db_url, "exto/nope", cursor=None, set_cursor=True, drop_pass=False)
    with pytest.raises(errors.ConfigError, match="nothing to reset"):
        await admin.reset(db_url, STREAM, cursor=None, set_cursor=False, drop_pass=False)


async def test_a_reset_waits_for_no_run_it_refuses_while_one_holds_the_lock(
    sandbox: SandboxFactory, db_url: str, token_env: str
) -> None:
    url, _ = await loaded(sandbox, db_url, latency_ms=100)
    running = asyncio.ensure_future(sync(url, db_url, window=1))
    await asyncio.sleep(0.5)
    with pytest.raises(errors.AlreadyRunning):
        await admin.reset(db_url, STREAM, cursor=None, set_cursor=True, drop_pass=False)
    assert (await running).status == "succeeded"


async def test_a_run_whose_lock_session_died_stops_before_its_next_commit(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The lock holder's backend is terminated mid-run; a second run takes the lock and its
    fencing token. The first run commits nothing after that (its rows stay as they were the
    moment the second run appeared) and fails with LockLost (exit 5); the second finishes, and
    the mirror equals the vendor."""
    url, sb = await sandbox(master_records=3_000, latency_ms=30)
    first = asyncio.ensure_future(sync(url, db_url, page_size=20, window=1))
    holder = None
    for _ in range(200):
        holder = await db.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            "LIMIT 1"
        )
        merged = await db.fetchval(
            "SELECT CASE WHEN to_regclass($1) IS NOT NULL THEN "
            "(SELECT max(checkpoint_page) FROM syncer.passes) END",
            f'mirror."{TABLE}"',
        )
        if holder and merged:
            break
        await asyncio.sleep(0.05)
    assert holder is not None
    await db.execute("SELECT pg_terminate_backend($1)", holder)
    second = asyncio.ensure_future(sync(url, db_url, page_size=20, window=1))
    first_run = await db.fetchval("SELECT min(run_id) FROM syncer.runs")
    written = None
    for _ in range(400):
        if await db.fetchval("SELECT count(*) FROM syncer.runs") == 2:
            written = await db.fetchval(
                f'SELECT count(*) FROM mirror."{TABLE}" WHERE _run_id = $1', first_run
            )
            break
        await asyncio.sleep(0.01)
    assert written is not None
    lost, won = await first, await second
    assert lost.status == "failed" and lost.exit_code == errors.ExitCode.TRANSIENT
    assert lost.error is not None and "took over" in lost.error
    assert won.status == "succeeded", won.error
    assert written == await db.fetchval(
        f'SELECT count(*) FROM mirror."{TABLE}" WHERE _run_id = $1', first_run
    )
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    runs = await db.fetch("SELECT status FROM syncer.runs ORDER BY run_id")
    assert [r["status"] for r in runs] == ["failed", "succeeded"]


def test_the_guard_holds_large_shares_of_large_streams_only() -> None:
    from syncer.deletes import over_guard

    assert over_guard(11, 100, 0.1) and not over_guard(10, 100, 0.1)
    assert not over_guard(10, 10, 0.1)  # a small stream losing everything is not held
    assert not over_guard(100, 1_000, 0.1) and over_guard(101, 1_000, 0.1)
    assert not over_guard(1_000, 1_000, 1.0)
