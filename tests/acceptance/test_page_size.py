"""Page sizes. A pass keeps its page size: a rerun with another `page_size` resumes the
interrupted pass in the page size it started with (its checkpoint counts pages of that size).
Pages larger than window_mb are read one at a time and flagged."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import Expected, compare, lab, run, spawn, syncer_env

pytestmark = pytest.mark.acceptance


async def test_a_resumed_pass_keeps_its_page_size(pg_admin_url: str, tmp_path: Path) -> None:
    async with lab(pg_admin_url, tmp_path) as it:
        url, sb = await it.sandbox(master_records=3_000, seed=3)
        db_url = await it.database()
        first = it.config(url, page_size=500)
        killed = await spawn(
            "sync",
            "--config",
            str(first),
            env=syncer_env(db_url, SYNCER_KILL_AT="after_commit:2"),
            quiet=True,
        )
        assert await killed.wait() < 0  # killed right after page 2 committed
        sb.reset_log()
        second = it.config(url, page_size=300)
        done = await run("sync", "--config", str(second), env=syncer_env(db_url))
        assert done.code == 0, done.err[-500:]
        sizes = {e.query.get("pageSize") for e in sb.request_log if e.path.endswith("/LOCATION")}
        assert sizes == {"500"}, sizes  # records 1,000..2,999: pages 3 to 6 of 500
        found = await compare(db_url, Expected(sb).hashes)
        assert found.passed, found
        # the next pass starts afresh with the configured size
        sb.reset_log()
        assert (await run("sync", "--config", str(second), env=syncer_env(db_url))).code == 0
        sizes = {e.query.get("pageSize") for e in sb.request_log if e.path.endswith("/LOCATION")}
        assert sizes == {"300"}, sizes


async def test_pages_over_window_mb_are_read_one_at_a_time_and_flagged(
    pg_admin_url: str, tmp_path: Path
) -> None:
    async with lab(pg_admin_url, tmp_path) as it:
        url, sb = await it.sandbox(
            master_records=2_000, seed=4, record_padding=5_000, latency_ms=50
        )
        db_url = await it.database()
        config = it.config(url, page_size=500, window_mb=1)  # pages of about 2.6 MB
        done = await run("sync", "--config", str(config), env=syncer_env(db_url))
        assert done.code == 0, done.err[-500:]
        assert (await compare(db_url, Expected(sb).hashes)).passed
        reads = [e for e in sb.request_log if e.path.endswith("/LOCATION")]
        # one page at a time: each request starts after the previous one was answered; four
        # pages and the empty fifth that confirms the end
        assert len(reads) == 5 and sb.max_in_window("sandbox-token", 0.04) == 1
        conn = await asyncpg.connect(db_url)
        try:
            warnings = await conn.fetchval("SELECT warnings FROM syncer.runs")
        finally:
            await conn.close()
        assert any("more than window_mb (1 MB)" in w and "page_size = " in w for w in warnings)
