"""`syncer worker`, `syncer sync --queue` and `syncer jobs`: real worker processes sharing one
queue in a real Postgres, syncing the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.commands import env, syncer, write_config
from tests.conftest import TOKEN_ENV, SandboxFactory
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.acceptance

STREAMS = '["master:LOCATION", "module:INSPECTION"]'


async def start_worker(
    config: Path, environ: dict[str, str], *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncer",
        "worker",
        "--config",
        str(config),
        *extra,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_jobs(
    db: asyncpg.Connection, count: int, seconds: float = 120, task: str = "syncer:sync_stream"
) -> list[str]:
    """The statuses of the `task` jobs once `count` of them have finished, or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses = [
            r["status"]
            for r in await db.fetch(
                "SELECT status::text FROM syncer_jobs.procrastinate_jobs "
                "WHERE task_name = $1 ORDER BY id",
                task,
            )
        ]
        if sum(s in ("succeeded", "failed") for s in statuses) >= count:
            return statuses
        await asyncio.sleep(0.3)
    raise AssertionError(f"jobs did not finish in {seconds} s: {statuses}")


async def stop(worker: asyncio.subprocess.Process) -> tuple[int, str]:
    worker.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode is not None
    return worker.returncode, err.decode()


async def test_two_workers_share_the_queued_streams(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Streams queued with `sync --queue` are run by two worker processes; the mirror equals
    the sandbox; each worker stops cleanly on SIGTERM."""
    url, sb = await sandbox(module_records=500)
    config = write_config(tmp_path, url, streams=STREAMS)
    environ = env(db_url)
    code, out, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
    assert code == 0, err
    assert "exto/master:LOCATION: queued as job" in out
    assert "exto/module:INSPECTION: queued as job" in out
    # queued once: a stream already waiting is not queued again
    code, out, _ = await syncer(
        "sync", "--config", str(config), "--queue", "-s", "master:LOCATION", environ=environ
    )
    assert code == 0 and "a run already waits in the queue" in out
    workers = [await start_worker(config, environ) for _ in range(2)]
    try:
        assert await wait_jobs(db, 2) == ["succeeded", "succeeded"]
    finally:
        stopped = [await stop(w) for w in workers]
    assert [code for code, _ in stopped] == [0, 0], stopped
    await assert_mirror_equals(
        db, "exto__master_location", sb.records("master", "LOCATION"), "master:LOCATION"
    )
    await assert_mirror_equals(
        db, "exto__module_inspection", sb.records("module", "INSPECTION"), "module:INSPECTION"
    )
    runs = await db.fetch("SELECT status FROM syncer.runs")
    assert sorted(r["status"] for r in runs) == ["succeeded", "succeeded"]
    code, out, _ = await syncer("jobs", environ=environ)
    assert code == 0
    assert "exto/master:LOCATION" in out and "succeeded" in out


async def test_a_config_error_fails_the_job_without_retries(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A job whose token the worker cannot find fails at once (no retry), and says why."""
    url, _ = await sandbox()
    config = write_config(tmp_path, url)
    environ = env(db_url)
    code, _, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
    assert code == 0, err
    worker_env = {k: v for k, v in environ.items() if k != TOKEN_ENV}
    worker = await start_worker(config, worker_env)
    try:
        assert await wait_jobs(db, 1) == ["failed"]
    finally:
        code, err = await stop(worker)
    assert code == 0, err
    job = await db.fetchrow(
        "SELECT attempts FROM syncer_jobs.procrastinate_jobs WHERE task_name LIKE '%sync_stream'"
    )
    assert job["attempts"] == 1
    assert "JobFailed" in err and "is not set" in err


async def test_jobs_commands_refuse_what_they_cannot_do(
    db_url: str, db: asyncpg.Connection
) -> None:
    """Unknown job ids, and a retry of a job that is not failed, are clear errors (exit 6)."""
    environ = env(db_url)
    code, _, err = await syncer("jobs", "retry", "999", environ=environ)
    assert code == 6 and "no job 999" in err
    code, _, err = await syncer("jobs", "cancel", "999", environ=environ)
    assert code == 6 and "job 999 is neither queued nor running" in err
    code, _, err = await syncer("jobs", "--status", "nonsense", environ=environ)
    assert code == 2 and "use one of" in err


async def count_sync_jobs(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM syncer_jobs.procrastinate_jobs "
            "WHERE task_name = 'syncer:sync_stream'"
        )
    )


async def test_a_missed_period_runs_once_across_three_workers_and_never_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A daily schedule whose latest tick passed while no worker ran: three workers start at
    once and run it exactly once; workers started again later do not run it again."""
    url, sb = await sandbox()
    config = write_config(tmp_path, url)
    text = config.read_text().replace(
        "streams = ", 'schedules = [{ cron = "0 0 * * *", mode = "full" }]\nstreams = '
    )
    config.write_text(text)
    environ = env(db_url)
    workers = [await start_worker(config, environ) for _ in range(3)]
    try:
        assert await wait_jobs(db, 1) == ["succeeded"]
        await asyncio.sleep(2)  # every worker's deferrer has had its turn
        assert await count_sync_jobs(db) == 1
    finally:
        for worker in workers:
            code, err = await stop(worker)
            assert code == 0, err
    await assert_mirror_equals(
        db, "exto__master_location", sb.records("master", "LOCATION"), "master:LOCATION"
    )
    job = await db.fetchrow(
        "SELECT args FROM syncer_jobs.procrastinate_jobs WHERE task_name = 'syncer:sync_stream'"
    )
    assert '"mode": "full"' in job["args"] and '"stream": "master:LOCATION"' in job["args"]
    again = await start_worker(config, environ)
    try:
        await asyncio.sleep(3)
    finally:
        await stop(again)
    assert await count_sync_jobs(db) == 1


async def test_backfill_at_a_terminal_and_queued(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """`syncer backfill` runs a full pass at once, or queues a dated one for a worker; dates in
    the wrong order are a usage error."""
    url, sb = await sandbox()
    config = write_config(tmp_path, url)
    environ = env(db_url)
    code, out, err = await syncer("backfill", "master:LOCATION", "-c", str(config), environ=environ)
    assert code == 0, err
    assert "sync summary" in out
    await assert_mirror_equals(
        db, "exto__master_location", sb.records("master", "LOCATION"), "master:LOCATION"
    )
    code, _, err = await syncer(
        "backfill",
        "master:LOCATION",
        "-c",
        str(config),
        "--since",
        "2025-03-02",
        "--until",
        "2025-03-01",
        environ=environ,
    )
    assert code == 2 and "--since is after --until" in err
    code, out, err = await syncer(
        "backfill",
        "master:LOCATION",
        "-c",
        str(config),
        "--since",
        "2025-03-01",
        "--queue",
        environ=environ,
    )
    assert code == 0 and "queued as job" in out, err
    worker = await start_worker(config, environ)
    try:
        assert await wait_jobs(db, 1) == ["succeeded"]
    finally:
        await stop(worker)
    job = await db.fetchrow(
        "SELECT args FROM syncer_jobs.procrastinate_jobs WHERE task_name = 'syncer:sync_stream'"
    )
    assert '"since": "2025-03-01"' in job["args"] and '"mode": "backfill"' in job["args"]
    run = await db.fetchrow("SELECT mode, status FROM syncer.runs ORDER BY run_id DESC LIMIT 1")
    assert (run["mode"], run["status"]) == ("backfill", "succeeded")


async def test_a_job_of_a_killed_worker_is_resumed_by_another(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A worker SIGKILLed mid-job: once its heartbeat is stale, another worker queues the job
    again and runs it from the stream's checkpoint; nothing is lost or written twice."""
    url, sb = await sandbox(master_records=3_000, latency_ms=40)
    config = write_config(tmp_path, url, window=1)
    config.write_text(config.read_text().replace("window = 1", "window = 1\npage_size = 50"))
    environ = env(db_url)
    code, _, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
    assert code == 0, err
    doomed = await start_worker(config, environ)
    for _ in range(300):
        page = await db.fetchval("SELECT coalesce(max(checkpoint_page), 0) FROM syncer.passes")
        if page >= 5:
            break
        await asyncio.sleep(0.1)
    assert page >= 5
    doomed.kill()
    await doomed.wait()
    # its heartbeat aged by an hour rather than waited 15 s for: the survivor still has to
    # find the job stalled and queue it again
    aged = await db.execute(
        "UPDATE syncer_jobs.procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
        "WHERE id = (SELECT worker_id FROM syncer_jobs.procrastinate_jobs "
        "WHERE task_name = 'syncer:sync_stream' AND status = 'doing')"
    )
    assert aged == "UPDATE 1"
    survivor = await start_worker(config, environ, "--stalled-after", "15")
    try:
        assert await wait_jobs(db, 1, seconds=120) == ["succeeded"]
    finally:
        code, err = await stop(survivor)
        assert code == 0, err
    job = await db.fetchrow(
        "SELECT attempts FROM syncer_jobs.procrastinate_jobs WHERE task_name = 'syncer:sync_stream'"
    )
    assert job["attempts"] == 2
    resumed = await db.fetchval(
        "SELECT resumed_from_page FROM syncer.runs ORDER BY run_id DESC LIMIT 1"
    )
    assert resumed >= 5
    await assert_mirror_equals(
        db, "exto__master_location", sb.records("master", "LOCATION"), "master:LOCATION"
    )


async def test_a_worker_serves_prometheus_metrics(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """`--metrics-port`: after a job, /metrics counts its requests, records, rows and run; a
    port already taken is a configuration error (exit 6)."""
    url, sb = await sandbox()
    config = write_config(tmp_path, url)
    environ = env(db_url)
    code, _, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
    assert code == 0, err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = await start_worker(config, environ, "--metrics-port", str(port))
    try:
        assert await wait_jobs(db, 1) == ["succeeded"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
        taken = await start_worker(config, environ, "--metrics-port", str(port))
        _, taken_err = await asyncio.wait_for(taken.communicate(), timeout=60)
        assert taken.returncode == 6
        assert f"cannot serve metrics on 127.0.0.1:{port}" in taken_err.decode()
    finally:
        await stop(worker)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    stream = (("connection", "exto"), ("stream", "master:LOCATION"))
    records = float(len(sb.records("master", "LOCATION")))
    assert samples["syncer_records_total", stream] == records
    assert samples["syncer_rows_total", tuple(sorted((*stream, ("op", "inserted"))))] == records
    assert samples["syncer_runs_total", tuple(sorted((*stream, ("status", "succeeded"))))] == 1
    assert samples["syncer_requests_total", (("connection", "exto"),)] >= 2
    assert samples["syncer_rate_limit_per_second", (("connection", "exto"),)] == 1000
    assert "sandbox-token" not in text and "127.0.0.1" not in text


async def wait_started(db: asyncpg.Connection, seconds: float = 60) -> int:
    """The id of the one registered worker, once it registered."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await db.fetchval("SELECT max(id) FROM syncer_jobs.procrastinate_workers")
        if found is not None:
            return int(found)
        await asyncio.sleep(0.2)
    raise AssertionError("no worker registered")


async def test_a_worker_whose_registration_is_gone_exits_5_and_says_why(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A worker's row pruned from procrastinate_workers (as another worker does after 30 s
    without its heartbeat): its next fetch fails, and it exits 5 (restart it), not 1."""
    url, _ = await sandbox()
    config = write_config(tmp_path, url)
    environ = env(db_url)
    worker = await start_worker(config, environ)
    try:
        worker_id = await wait_started(db)
        await db.execute("DELETE FROM syncer_jobs.procrastinate_workers WHERE id = $1", worker_id)
        code, _, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
        assert code == 0, err
        _, err_bytes = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 5
    assert "the job queue's database failed (ForeignKeyViolation" in err_bytes.decode()


async def test_a_worker_stopped_by_a_failed_heartbeat_exits_5(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """procrastinate stops a worker whose heartbeat fails: the worker exits 5 and says so,
    never 0 as if it had been asked to stop."""
    url, _ = await sandbox()
    config = write_config(tmp_path, url)
    worker = await start_worker(config, env(db_url))
    try:
        await wait_started(db)
        await db.execute(
            "CREATE OR REPLACE FUNCTION syncer_jobs.procrastinate_update_heartbeat_v1("
            "worker_id bigint) RETURNS void LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'no heartbeat today'; END $$"
        )
        _, err_bytes = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 5
    assert "the worker stopped by itself" in err_bytes.decode()
