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
