"""The job queue: syncer's runs as procrastinate jobs, for workers on any number of machines.

A job runs the same code as the CLI (`engine.sync` for one stream); its arguments name the
stream, and the worker finds the connection and its token in its own config and environment
(never in the job's row: a job's arguments are readable by everyone who can read the queue).

- Queue `syncer`; tasks `syncer:sync_stream(connection, stream, mode)` and
  `syncer:push_outbox(connection)` (one push group: a connection's outbox, as `syncer push
  --connection` sends it), with `lock` and `queueing_lock` = `push:CONNECTION`: one push of a
  connection runs at a time and at most one waits; a CLI push holds the push lock too, and a
  job that meets it is retried a little later.
- Each job carries `lock` = `stream:CONNECTION/STREAM`, so two jobs of one stream never run at
  once on any worker, and `queueing_lock` = that plus the mode, so at most one run of each mode
  waits: deferring a stream whose run of that mode already waits is a no-op (`defer_stream`
  returns None), and a queued backfill never keeps a nightly incremental run out (or back).
  A CLI run of the stream holds the stream's own lock (`Mirror.stream_lock`); a job that meets
  it is retried a little later.
- Outcomes: a run that succeeded, or ended quarantined or incomplete (the mirror holds all that
  could be read, and the run says why), is a succeeded job; a transient failure (exit 5) is
  retried with backoff and resumes from the stream's checkpoint; a configuration error (exit 6)
  fails the job at once.

    app = make_app(database_url)
    async with app.open_async():
        await defer_stream(app, "exto", "master:LOCATION", "incremental")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from procrastinate import App, Blueprint, JobContext, PsycopgConnector, RetryStrategy
from procrastinate import exceptions as procrastinate_errors

from syncer import engine, errors, jobs_schema, push, schedules
from syncer.connectors.registry import CONNECTORS
from syncer.run import Bounds
from syncer.settings import Config

log = structlog.get_logger(__name__)

QUEUE = "syncer"
#: a periodic tick missed while no worker ran is deferred when one starts, if at most this old
#: (only the latest missed tick of each schedule: never a pile-up); a week covers a weekly job
MAX_DELAY = 7 * 24 * 3600

tasks = Blueprint()


class Retry(Exception):
    """A job that should run again later: a transient failure, or its stream is busy."""


class JobFailed(Exception):
    """A job that must not be retried: what it needs fixing is configuration."""


#: 15 s, then 75, 135 and 195 s later: a stream or connection busy with a CLI run, a vendor
#: down for a few minutes; each attempt resumes from the stream's checkpoint
RETRY = RetryStrategy(max_attempts=5, wait=15, linear_wait=60, retry_exceptions={Retry})


def _ended(code: errors.ExitCode, what: str, error: str | None) -> None:
    """How a run's exit code ends its job: returns for a succeeded job (OK, or quarantined /
    incomplete / rejected rows: the mirror and outbox say why), raises JobFailed for a
    configuration error, Retry for anything else (transient, locked by a CLI run, internal)."""
    if code in (errors.ExitCode.OK, errors.ExitCode.QUARANTINED):
        return
    if code == errors.ExitCode.AUTH_OR_CONFIG:
        raise JobFailed(f"{what}: {error}")
    raise Retry(f"{what}: {error}")


@dataclass(frozen=True)
class WorkerEnv:
    """What every job of a worker runs with: the worker's config and database."""

    config: Config
    database_url: str
    #: seconds without a heartbeat after which a worker's running jobs are queued again
    stalled_after: float = 60.0


def stream_lock(connection: str, stream: str) -> str:
    return f"stream:{connection}/{stream}"


def queueing_lock(connection: str, stream: str, mode: str) -> str:
    return f"{stream_lock(connection, stream)}:{mode}"


def push_lock(connection: str) -> str:
    return f"push:{connection}"


def connector(database_url: str, *, max_size: int = 4) -> PsycopgConnector:
    """procrastinate's own pool (psycopg): every session's search_path is the queue's schema."""
    return PsycopgConnector(
        conninfo=database_url,
        kwargs={"options": f"-c search_path={jobs_schema.SCHEMA}"},
        min_size=1,
        max_size=max_size,
    )


def make_app(database_url: str, *, max_size: int = 4) -> App:
    app = App(
        connector=connector(database_url, max_size=max_size),
        periodic_defaults={"max_delay": MAX_DELAY},
    )
    app.add_tasks_from(tasks, namespace="syncer")
    return app


async def defer_stream(
    app: App, connection: str, stream: str, mode: str, bounds: Bounds | None = None
) -> int | None:
    """Queue one run of a stream; None when a run of it in that mode already waits."""
    task = app.configure_task(
        "syncer:sync_stream",
        lock=stream_lock(connection, stream),
        queueing_lock=queueing_lock(connection, stream, mode),
        queue=QUEUE,
    )
    days = {}
    if bounds is not None:
        days = {k: d.isoformat() for k, d in zip(("since", "until"), bounds, strict=True) if d}
    try:
        return await task.defer_async(connection=connection, stream=stream, mode=mode, **days)
    except procrastinate_errors.AlreadyEnqueued:
        return None


@tasks.task(
    name="sync_stream",
    queue=QUEUE,
    pass_context=True,
    retry=RETRY,
)
async def sync_stream(
    context: JobContext,
    /,
    connection: str,
    stream: str,
    mode: str,
    since: str | None = None,
    until: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One run of one stream, as `syncer sync --stream CONNECTION/STREAM --mode MODE` (or
    `syncer backfill`) does it. `extra`: the tick's `timestamp` of a scheduled run."""
    env = context.additional_context["syncer"]
    assert isinstance(env, WorkerEnv)
    name = f"{connection}/{stream}"
    bounds = None
    if since or until:
        bounds = (
            date.fromisoformat(since) if since else None,
            date.fromisoformat(until) if until else None,
        )
    try:
        results = await engine.sync(
            env.config, env.database_url, only=[name], mode=mode, bounds=bounds
        )
    except errors.ConfigError as exc:
        raise JobFailed(exc.message) from None
    except errors.SyncerError as exc:
        raise Retry(exc.message) from None
    result = results[0]
    outcome = {"status": result.status, "exit_code": int(result.exit_code), "error": result.error}
    error = (
        result.error
        if result.exit_code == errors.ExitCode.AUTH_OR_CONFIG
        else (f"{result.status}: {result.error}")
    )
    _ended(result.exit_code, name, error)
    return outcome


async def defer_push(app: App, connection: str) -> int | None:
    """Queue one push of a connection's outbox; None when one already waits."""
    task = app.configure_task(
        "syncer:push_outbox",
        lock=push_lock(connection),
        queueing_lock=push_lock(connection),
        queue=QUEUE,
    )
    try:
        return await task.defer_async(connection=connection)
    except procrastinate_errors.AlreadyEnqueued:
        return None


@tasks.task(
    name="push_outbox",
    queue=QUEUE,
    pass_context=True,
    retry=RETRY,
)
async def push_outbox(context: JobContext, /, connection: str, **extra: Any) -> dict[str, Any]:
    """One push of a connection's outbox, as `syncer push --connection CONNECTION` does it.
    `extra`: the tick's `timestamp` of a scheduled push."""
    env = context.additional_context["syncer"]
    assert isinstance(env, WorkerEnv)
    try:
        pushable(env.config, [connection])
        results = await push.push(env.config, env.database_url, only=[connection])
    except errors.ConfigError as exc:
        raise JobFailed(exc.message) from None
    except errors.SyncerError as exc:
        raise Retry(exc.message) from None
    result = results[0]
    outcome = {
        "accepted": result.accepted,
        "rejected": result.rejected,
        "invalid": result.invalid,
        "superseded": result.superseded,
        "exit_code": int(result.exit_code),
        "error": result.error,
    }
    _ended(result.exit_code, f"push of {connection}", result.error)  # rejected rows stay
    return outcome


def pushable(config: Config, names: list[str]) -> list[str]:
    """The connections named (every one whose vendor takes writes, when none is) that a push
    can send; a ConfigError for a name that is not one."""
    known = {c.name: c for c in config.connections}
    for name in names:
        if name not in known:
            raise errors.ConfigError(
                f"no connection named {name!r} in the config (it has: {', '.join(known)})"
            )
        if CONNECTORS[known[name].vendor].push is None:
            raise errors.ConfigError(f"connection {name!r}: its vendor takes no pushes")
    if names:
        return names
    return [c.name for c in config.connections if CONNECTORS[c.vendor].push is not None]


async def queue_pushes(
    database_url: str, config: Config, only: list[str]
) -> list[tuple[str, int | None]]:
    """`syncer push --queue`: one push job per chosen connection; (CONNECTION, job id or None
    when a push of it already waits)."""
    names = pushable(config, only)
    app = make_app(database_url, max_size=1)
    async with app.open_async():
        return [(name, await defer_push(app, name)) for name in names]


#: housekeeping jobs live in a queue of their own, so cleaning them never touches run history
HOUSEKEEPING = "syncer_housekeeping"
#: a running job whose worker has not beaten its heart for this long is stalled (jobs_schema)
STALLED_AFTER = jobs_schema.STALLED_AFTER


@tasks.periodic(cron="* * * * * */10", periodic_id="retry_stalled")
@tasks.task(
    name="retry_stalled", queue=HOUSEKEEPING, queueing_lock="retry_stalled", pass_context=True
)
async def retry_stalled(context: JobContext, /, timestamp: int) -> int:
    """Every 10 s, on whichever worker takes it: queue again the jobs of dead workers (they
    resume from their stream's checkpoint), and forget housekeeping jobs over an hour old."""
    env = context.additional_context["syncer"]
    assert isinstance(env, WorkerEnv)
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=env.stalled_after))
    for job in stalled:
        log.warning("job.stalled", job_id=job.id, task=job.task_name, args=job.task_kwargs)
        await manager.retry_job(job)
    await manager.delete_old_jobs(nb_hours=1, queue=HOUSEKEEPING)
    return len(stalled)


async def queue_streams(
    database_url: str,
    config: Config,
    only: list[str],
    mode: str | None,
    bounds: Bounds | None = None,
) -> list[tuple[str, int | None]]:
    """`syncer sync --queue`: one job per chosen stream; (CONNECTION/STREAM, job id or None
    when a run of it already waits)."""
    chosen = engine.plan(config, only)
    await schedules.record_at(database_url, config)  # mirror_meta.streams: the next runs
    app = make_app(database_url, max_size=1)
    queued = []
    async with app.open_async():
        for conn, spec in chosen:
            chosen_mode = mode or conn.stream_config(spec.name).mode
            job_id = await defer_stream(app, conn.name, spec.name, chosen_mode, bounds)
            queued.append((f"{conn.name}/{spec.name}", job_id))
    return queued


def register_schedules(app: App, config: Config) -> list[str]:
    """Every schedule of the config as a periodic job of the worker; their ids.

    Each (stream, mode, cron) is one periodic entry with a stable id, so every worker running
    the same config defers each tick once between them (procrastinate records each deferred
    tick under a unique key); a tick missed while no worker ran is deferred once when one
    starts, if it is at most MAX_DELAY old. A tick that finds a run of the stream waiting is
    skipped (its queueing lock), and a run never overlaps another of the stream (its lock).
    A connection's `push_schedule` is one more entry: a push of its outbox."""
    task = app.tasks["syncer:sync_stream"]
    ids = []
    for conn in config.connections:
        for name in conn.streams:
            settings = conn.stream_config(name)
            lock = stream_lock(conn.name, name)
            for schedule in settings.schedules:
                waiting = queueing_lock(conn.name, name, schedule.mode)
                periodic_id = f"{conn.name}/{name} {schedule.mode} {schedule.cron}"
                if periodic_id in ids:
                    continue  # the same schedule written twice
                app.periodic(
                    cron=schedule.cron,
                    periodic_id=periodic_id,
                    lock=lock,
                    queueing_lock=waiting,
                    queue=QUEUE,
                    task_kwargs={"connection": conn.name, "stream": name, "mode": schedule.mode},
                )(task)
                ids.append(periodic_id)
        if conn.push_schedule is not None:
            pushable(config, [conn.name])  # a vendor that takes no writes: say so at start
            periodic_id = f"{conn.name} push {conn.push_schedule}"
            app.periodic(
                cron=conn.push_schedule,
                periodic_id=periodic_id,
                lock=push_lock(conn.name),
                queueing_lock=push_lock(conn.name),
                queue=QUEUE,
                task_kwargs={"connection": conn.name},
            )(app.tasks["syncer:push_outbox"])
            ids.append(periodic_id)
    return ids
