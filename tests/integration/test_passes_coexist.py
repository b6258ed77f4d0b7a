"""A resumable full pass (a backfill) and incremental runs coexist (issue 11, part 3): an
incremental run while a full pass is unfinished leaves its checkpoint intact, and the full pass
resumes from it afterwards. Real Postgres, the Exto sandbox over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import asyncpg
import pytest

from syncer import engine
from syncer.run import StreamResult
from tests.conftest import SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals
from tests.integration.test_trust_passes import loaded

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"


async def run(url: str, db_url: str, mode: str) -> StreamResult:
    [result] = await engine.sync(exto_config(url, page_size=100, max_attempts=1), db_url, mode=mode)
    return result


async def test_an_incremental_run_keeps_an_unfinished_full_pass_checkpoint(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await loaded(sandbox, db_url)
    sb.generation(change_pct=5, delete_pct=1, insert_pct=1)
    # the full pass stops on page 13: the token is revoked after 12 requests
    sb.config.revoke_after = 12
    stopped = await run(url, db_url, "full")
    assert stopped.status == "failed"
    sb.config.revoked_tokens = ()
    full = await db.fetchrow("SELECT pass_id, checkpoint_page FROM syncer.passes")
    assert full["checkpoint_page"] >= 8
    # the nightly incremental run in between: it succeeds and leaves the full pass alone
    sb.generation(change_pct=2, delete_pct=0, insert_pct=1)
    nightly = await run(url, db_url, "incremental")
    assert (nightly.status, nightly.mode) == ("succeeded", "incremental"), nightly.error
    assert nightly.stats.deleted == 0
    kept = await db.fetchrow("SELECT pass_id, mode, checkpoint_page FROM syncer.passes")
    assert (kept["pass_id"], kept["mode"], kept["checkpoint_page"]) == (
        full["pass_id"],
        "full",
        full["checkpoint_page"],
    )
    # the full pass resumes where it stopped, completes, and the mirror equals the vendor
    resumed = await run(url, db_url, "full")
    assert resumed.status == "succeeded", resumed.error
    runs = await db.fetch(
        "SELECT mode, pass_id, resumed_from_page FROM syncer.runs ORDER BY run_id DESC LIMIT 1"
    )
    assert (runs[0]["pass_id"], runs[0]["resumed_from_page"]) == (
        full["pass_id"],
        full["checkpoint_page"],
    )
    assert await db.fetchval("SELECT count(*) FROM syncer.passes") == 0
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


async def test_a_long_full_pass_never_pulls_the_cursor_back(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A full pass started before an incremental run and finished after it: the cursor the
    incremental run left stays (the full pass's own reading is capped at its start)."""
    url, sb = await loaded(sandbox, db_url)
    sb.config.revoke_after = 5
    assert (await run(url, db_url, "full")).status == "failed"
    sb.config.revoked_tokens = ()
    full_started = await db.fetchval("SELECT started_at FROM syncer.passes")
    await asyncio.sleep(0.05)
    # changes stamped after the full pass began, read by the nightly run
    sb.data.generation_epoch_ms = int(time.time() * 1000) - sb.data.generation_step_ms
    sb.generation(change_pct=2, delete_pct=0, insert_pct=0)
    assert (await run(url, db_url, "incremental")).status == "succeeded"
    after_nightly = await db.fetchval("SELECT cursor FROM syncer.stream_state")
    assert after_nightly > full_started
    assert (await run(url, db_url, "full")).status == "succeeded"
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") == after_nightly


async def test_a_dated_backfill_reads_its_days_and_deletes_nothing(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """`syncer backfill --since D1 --until D2`: the records updated on those days, through
    Exto's date filter; no delete is inferred and the cursor does not move."""
    url, sb = await loaded(sandbox, db_url)
    cursor = await db.fetchval("SELECT cursor FROM syncer.stream_state")
    days = sorted({r["updatedAt"][:10] for r in sb.records("master", "LOCATION")})
    since, until = date.fromisoformat(days[len(days) // 3]), date.fromisoformat(days[-2])
    await db.execute(f'DELETE FROM mirror."{TABLE}"')  # what the backfill brings back is visible
    [result] = await engine.sync(
        exto_config(url, page_size=100), db_url, mode="backfill", bounds=(since, until)
    )
    assert (result.status, result.mode, result.stats.deleted) == ("succeeded", "backfill", 0)
    inside = [
        r
        for r in sb.records("master", "LOCATION")
        if since.isoformat() <= r["updatedAt"][:10] <= until.isoformat()
    ]
    assert 0 < len(inside) < 3_000
    await assert_mirror_equals(db, TABLE, inside, MASTER)
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") == cursor
    filters = {e.query.get("filter") for e in sb.request_log if "master-record" in e.path}
    assert f"updatedAt:DATE:ge:{since}:and:updatedAt:DATE:le:{until}" in filters


async def test_a_dated_backfill_of_a_stream_without_a_date_filter_says_so(
    sandbox: SandboxFactory, db_url: str, token_env: str
) -> None:
    url, _ = await sandbox()
    [result] = await engine.sync(
        exto_config(url, streams=("users",)),
        db_url,
        mode="backfill",
        bounds=(date(2025, 1, 1), None),
    )
    assert result.status == "failed" and result.exit_code == 6
    assert "no date filter for users" in (result.error or "")
