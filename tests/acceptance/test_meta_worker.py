"""`syncer worker` records the config's schedules when it starts, so mirror_meta.streams shows
each stream's next run before any job has run."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from croniter import croniter

from tests.commands import env
from tests.configs import exto_file

pytestmark = pytest.mark.acceptance


async def test_a_starting_worker_records_each_streams_next_run(
    db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    config = exto_file(
        tmp_path,
        "http://127.0.0.1:9/data",
        streams=("master:LOCATION", "users"),
        extra=(
            '[connections.per_stream."master:LOCATION"]\n'
            'schedules = [{ cron = "30 4 * * *", mode = "full" }]\n'
        ),
    )
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "syncer", "worker", "--config", str(config)),
        env=env(db_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline and len(rows) < 2 and worker.returncode is None:
            await asyncio.sleep(0.2)
            rows = await db.fetch(
                "SELECT stream, next_run_at, next_run_mode FROM mirror_meta.streams ORDER BY stream"
            )
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert len(rows) == 2, err.decode()
    expected = croniter("30 4 * * *", datetime.now(UTC)).get_next(datetime)
    assert [tuple(r) for r in rows] == [
        ("master:LOCATION", expected, "full"),
        ("users", None, None),
    ]
    assert worker.returncode == 0, err.decode()


async def test_a_worker_stopped_while_it_starts_exits_0_and_records_nothing(
    db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A supervisor may stop a worker that has not finished starting: SIGTERM while its
    start-up waits on the database ends it cleanly (exit 0), never by the signal (-15)."""
    config = exto_file(tmp_path, "http://127.0.0.1:9/data", streams=("users",))
    holding = db.transaction()
    await holding.start()
    await db.execute("LOCK TABLE syncer.configured_streams IN ACCESS EXCLUSIVE MODE")
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "syncer", "worker", "--config", str(config)),
        env=env(db_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        waiting = "SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT granted"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.returncode is None:
            if await db.fetchval(waiting):
                break
            await asyncio.sleep(0.1)
        assert await db.fetchval(waiting), "the worker's start-up never waited on the lock"
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        await holding.rollback()
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0, err.decode()
    assert await db.fetchval("SELECT count(*) FROM syncer.configured_streams") == 0
