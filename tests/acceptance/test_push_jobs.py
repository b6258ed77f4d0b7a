"""Pushes as jobs: `syncer push --queue`, a connection's `push_schedule`, real worker processes
sending the outbox to the Exto sandbox over HTTP, real Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.acceptance.test_push_crash import active_user, enqueue
from tests.acceptance.test_workers import start_worker, stop, wait_jobs
from tests.commands import env, syncer, write_config
from tests.conftest import SandboxFactory

pytestmark = pytest.mark.acceptance

ROWS = [{"serial_number": 8_100_000 + n, "name": f"Queued {n}"} for n in range(30)]


def push_config(tmp_path: Path, url: str, user: str, extra: str = "") -> Path:
    config = write_config(tmp_path, url)
    config.write_text(
        config.read_text()
        + f'options = {{ "unique:LOCATION" = "serial_number", user_name = "{user}" }}\n'
        + extra
    )
    return config


async def push_jobs(db: asyncpg.Connection) -> list[str]:
    """The push jobs' statuses once one has finished."""
    return await wait_jobs(db, 1, seconds=90, task="syncer:push_outbox")


async def assert_pushed(db: asyncpg.Connection, sb: object) -> None:
    states = await db.fetch("SELECT state, count(*) AS n FROM syncer.outbox GROUP BY state")
    assert {r["state"]: r["n"] for r in states} == {"accepted": len(ROWS)}
    held = {r["customFields"].get("serial_number") for r in sb.records("master", "LOCATION")}  # type: ignore[attr-defined]
    assert {r["serial_number"] for r in ROWS} <= held


async def test_a_queued_push_runs_on_a_worker_and_waits_only_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """`syncer push --queue` queues one job per connection; queued again while it waits, it
    says so and adds none; a worker sends every row."""
    url, sb = await sandbox(master_records=20)
    config = push_config(tmp_path, url, active_user(sb))
    environ = env(db_url)
    code, out, err = await syncer("migrate", environ=environ)
    assert code == 0, err
    await enqueue(db, "master:LOCATION", "upsert", ROWS)
    code, out, err = await syncer("push", "--config", str(config), "--queue", environ=environ)
    assert code == 0 and "exto (push): queued as job" in out, err
    code, out, err = await syncer(
        "push", "--config", str(config), "--queue", "--connection", "exto", environ=environ
    )
    assert code == 0 and "exto (push): a run already waits in the queue" in out, err
    code, out, err = await syncer("jobs", environ=environ)
    assert code == 0 and "exto (outbox)" in out and "push_outbox" in out, err
    worker = await start_worker(config, environ)
    try:
        assert await push_jobs(db) == ["succeeded"]
    finally:
        code, err = await stop(worker)
        assert code == 0, err
    await assert_pushed(db, sb)


async def test_a_push_schedule_pushes_the_outbox_once_across_two_workers(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A daily `push_schedule` whose latest tick passed while no worker ran: two workers
    started at once push the outbox exactly once."""
    url, sb = await sandbox(master_records=20)
    config = push_config(tmp_path, url, active_user(sb), 'push_schedule = "0 0 * * *"\n')
    environ = env(db_url)
    code, _, err = await syncer("migrate", environ=environ)
    assert code == 0, err
    await enqueue(db, "master:LOCATION", "upsert", ROWS)
    workers = [await start_worker(config, environ) for _ in range(2)]
    try:
        assert await push_jobs(db) == ["succeeded"]
        await asyncio.sleep(2)  # both workers' deferrers have had their turn
        assert await push_jobs(db) == ["succeeded"]
    finally:
        for worker in workers:
            code, err = await stop(worker)
            assert code == 0, err
    await assert_pushed(db, sb)


async def test_pushes_that_cannot_be_queued_or_scheduled_say_what_to_fix(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """An unknown connection, a push schedule that is not cron: exit 6 at once, naming it."""
    url, sb = await sandbox(master_records=20)
    config = push_config(tmp_path, url, active_user(sb))
    environ = env(db_url)
    code, out, err = await syncer(
        "push", "--config", str(config), "--queue", "--connection", "extoo", environ=environ
    )
    assert code == 6 and "no connection named 'extoo'" in out + err
    bad = push_config(tmp_path, url, active_user(sb), 'push_schedule = "every night"\n')
    code, out, err = await syncer("push", "--config", str(bad), "--queue", environ=environ)
    assert code == 6 and "'every night' is not a cron expression" in out + err
    assert await db.fetchval("SELECT count(*) FROM syncer_jobs.procrastinate_jobs") == 0
