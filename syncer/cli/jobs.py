"""`syncer worker`, `syncer jobs` and `syncer backfill`: the job queue from the command line
(syncer/jobs.py), and the resumable read a backfill is, at a terminal or queued."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from rich.table import Table

from syncer import errors, jobs_schema, log, metrics, migrate, schedules
from syncer.cli.app import (
    DEFAULT_CONFIG,
    ConfigOption,
    database,
    group,
    load,
    queued,
    run,
)
from syncer.cli.sync import pull
from syncer.mirror import connect_one
from syncer.report import out

if TYPE_CHECKING:  # syncer.jobs imports procrastinate: only the commands that use it do
    from syncer.jobs import WorkerEnv

jobs_app = group(
    "The job queue the workers run: list, retry or cancel jobs.\n\n"
    "Example: syncer jobs --status failed",
    invoke_without_command=True,
    no_args_is_help=False,
)

#: what `syncer jobs` lists, newest first (procrastinate keeps times in its events table)
_LIST = f"""
SELECT j.id, j.task_name, j.args, j.status::text AS status, j.scheduled_at, j.attempts,
       pg_catalog.min(e.at) FILTER (WHERE e.type = 'deferred') AS deferred_at,
       pg_catalog.max(e.at) FILTER (WHERE e.type = 'started') AS started_at,
       pg_catalog.max(e.at) FILTER (
           WHERE e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at
  FROM {jobs_schema.SCHEMA}.procrastinate_jobs j
  LEFT JOIN {jobs_schema.SCHEMA}.procrastinate_events e ON e.job_id = j.id
 WHERE $1::text IS NULL OR j.status::text = $1
 GROUP BY j.id
 ORDER BY j.id DESC
 LIMIT $2
"""
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


def worker(
    config: ConfigOption = DEFAULT_CONFIG,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs this worker runs at once.")
    ] = 2,
    stalled_after: Annotated[
        float,
        typer.Option(
            min=15,
            help="Seconds without a heartbeat (workers beat every 10 s) after which a worker "
            "counts as dead and its running jobs are queued again.",
        ),
    ] = jobs_schema.STALLED_AFTER,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on this port (GET /metrics)."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of the metrics server (0.0.0.0: every one).")
    ] = "127.0.0.1",
) -> None:
    """Run a worker: it takes jobs from the queue in the mirror's Postgres and runs them.

    Start one on each of several machines pointed at the same SYNCER_DATABASE_URL, and they
    share the work. Stop it with Ctrl-C or SIGTERM: it finishes (or, after 30 s, interrupts)
    its running jobs; an interrupted stream resumes from its checkpoint.

    Example: syncer worker --config config/sandbox.toml --concurrency 2
    """
    cfg = load(config)
    url = database(cfg)
    run(migrate.migrate(url))
    log.worker_events()
    serving = (metrics_host, metrics_port) if metrics_port else None
    run(_worker(cfg, url, concurrency, stalled_after, serving))


async def _worker(
    cfg: Any,
    url: str,
    concurrency: int,
    stalled_after: float,
    serving: tuple[str, int] | None,
) -> None:
    from syncer import jobs

    stops = _Stops()  # from the first step: a supervisor may stop a worker still starting
    runner = None
    try:
        await _check_schema(url)
        app = jobs.make_app(url, max_size=concurrency + 3)
        env = jobs.WorkerEnv(cfg, url, stalled_after)
        periodic = jobs.register_schedules(app, cfg)
        structlog.get_logger(__name__).info("worker.schedules", schedules=periodic)
        await schedules.record_at(url, cfg)  # mirror_meta.streams: each stream's next run
        runner = await metrics.serve(serving[1], serving[0]) if serving else None
        async with app.open_async():
            await _run_worker(app, concurrency, env, stops)
    except asyncio.CancelledError:
        if not stops.asked:
            raise
    finally:
        stops.close()
        if runner is not None:
            await runner.cleanup()


class _Stops:
    """SIGTERM and SIGINT, handled from the worker's first step on: while it starts, one ends
    the start-up (exit 0, nothing is running yet); once it runs, procrastinate's graceful stop
    (running jobs get 30 s). A second signal takes its default course. Before, a signal in the
    start-up (schema check, schedules, pool) killed the process (-15)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.asked: list[signal.Signals] = []
        #: what a signal cancels: the start-up, then the running worker
        self.target: asyncio.Future[Any] | None = asyncio.current_task()
        for sig in self.SIGNALS:
            self.loop.add_signal_handler(sig, self._stop, sig)

    def _stop(self, sig: signal.Signals) -> None:
        self.asked.append(sig)
        self.close()
        if self.target is not None:
            self.target.cancel()

    def close(self) -> None:
        for sig in self.SIGNALS:
            self.loop.remove_signal_handler(sig)


async def _run_worker(app: Any, concurrency: int, env: WorkerEnv, stops: _Stops) -> None:
    """Run the worker until SIGTERM or SIGINT (a second one ends the process at once).

    procrastinate also stops a worker by itself when a task of its own fails (the heartbeat or
    the deferrer lost the database), and a worker whose row in procrastinate_workers is gone
    (pruned by another worker after 30 s without a heartbeat) fails its next fetch: either
    way it no longer takes jobs, so it exits 5 and says why, for a supervisor to restart it
    (fault experiment 23); never 0 as if asked to stop, nor 1 as if syncer had a bug.
    """
    from procrastinate import exceptions as procrastinate_errors

    from syncer import jobs

    running = asyncio.create_task(
        app.run_worker_async(
            queues=[jobs.QUEUE, jobs.HOUSEKEEPING],
            concurrency=concurrency,
            name=f"syncer@{socket.gethostname()}:{os.getpid()}",
            additional_context={"syncer": env},
            shutdown_graceful_timeout=30,
            install_signal_handlers=False,
        )
    )
    stops.target = running  # a signal now: procrastinate's graceful stop
    try:
        await running
    except asyncio.CancelledError:
        if not stops.asked:
            raise
        return
    except procrastinate_errors.ConnectorException as exc:
        cause = exc.__cause__ or exc
        raise errors.MirrorError(
            f"the worker stopped: the job queue's database failed ({type(cause).__name__}: "
            f"{' '.join(str(cause).split())}); restart it"
        ) from None
    raise errors.MirrorError(
        "the worker stopped by itself: one of its own tasks failed (its log says which, e.g. "
        "the heartbeat lost the database); restart it"
    )


async def _check_schema(url: str) -> None:
    conn = await connect_one(url)
    try:
        await jobs_schema.check(conn)
    finally:
        await conn.close()


def backfill(
    stream: Annotated[str, typer.Argument(help="The stream: NAME or CONNECTION/NAME.")],
    config: ConfigOption = DEFAULT_CONFIG,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only records updated on this day or later."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only records updated on this day or earlier."),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Queue it for the workers instead of running it.")
    ] = False,
) -> None:
    """Read one stream in full, resumably: interrupted, it goes on from its last page the next
    time, whatever incremental runs happened in between (they never discard it).

    Without dates it is a full pass: complete, it infers deletes and confirms the mirror whole.
    With --since/--until it reads the records updated on those days (UTC), through the vendor's
    date filter (Exto's `updatedAt`; the others have none, and say so): no deletes are
    inferred from it, and the incremental cursor stays where it is.

    Example: syncer backfill master:LOCATION --since 2025-01-01 --until 2025-03-31
    """
    if since and until and since > until:
        raise typer.BadParameter("--since is after --until", param_hint="--since")
    cfg = load(config)
    url = database(cfg)
    run(migrate.migrate(url))
    bounds = (since.date() if since else None, until.date() if until else None)
    mode = "backfill" if since or until else "full"
    if queue:
        from syncer import jobs

        queued(run(jobs.queue_streams(url, cfg, [stream], mode, bounds)))
        return
    results = pull(cfg, url, [stream], mode, bounds)
    raise typer.Exit(int(errors.worst(r.exit_code for r in results)))


@jobs_app.callback()
def jobs_list(
    context: typer.Context,
    status: Annotated[
        str | None, typer.Option(help=f"Only jobs in this state: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List the queue's jobs, newest first: queued (todo), running (doing), finished."""
    if context.invoked_subcommand is not None:
        return
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"use one of {', '.join(STATUSES)}", param_hint="--status")
    url = database()
    rows = run(_fetch(url, status, limit))
    table = Table(title="jobs")
    for column in ("id", "task", "stream", "mode", "status", "attempts", "queued", "finished"):
        table.add_column(column, no_wrap=column in ("id", "status"))
    for row in rows:
        args = row["args"] or {}
        stream = f"{args.get('connection', '')}/{args.get('stream', '')}"
        if "stream" not in args:
            stream = f"{args.get('connection', '')} (outbox)"  # a push
        table.add_row(
            str(row["id"]),
            row["task_name"].removeprefix("syncer:"),
            stream,
            str(args.get("mode", "")),
            row["status"],
            str(row["attempts"]),
            _when(row["deferred_at"]),
            _when(row["finished_at"]),
        )
    out.print(table)


async def _fetch(url: str, status: str | None, limit: int) -> list[Any]:
    import orjson

    conn = await connect_one(url)
    try:
        await jobs_schema.check(conn)
        rows = await conn.fetch(_LIST, status, limit)
    finally:
        await conn.close()
    return [{**dict(r), "args": orjson.loads(r["args"]) if r["args"] else {}} for r in rows]


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="A failed or aborted job's id.")],
) -> None:
    """Queue a failed, aborted or stuck job again (it resumes from its stream's checkpoint).

    Example: syncer jobs --status failed && syncer jobs retry 42
    """
    url = database()
    run(_retry(url, job_id))
    out.print(f"job {job_id} queued again")


async def _retry(url: str, job_id: int) -> None:
    from syncer import jobs

    app = jobs.make_app(url, max_size=1)
    async with app.open_async():
        manager = app.job_manager
        found = list(await manager.list_jobs_async(id=job_id))
        if not found:
            raise errors.ConfigError(f"no job {job_id} (syncer jobs lists them)")
        job = found[0]
        if job.status == "doing":
            after = jobs_schema.STALLED_AFTER
            stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=after)
            if job_id not in {j.id for j in stalled}:
                raise errors.ConfigError(
                    f"job {job_id} is running on a live worker: cancel it first "
                    f"(syncer jobs cancel {job_id})"
                )
        if job.status in ("failed", "doing"):
            await manager.retry_job_by_id_async(job_id, retry_at=datetime.now().astimezone())
            return
        if job.status in ("aborted", "cancelled") and job.task_name == "syncer:sync_stream":
            args = {k: str(v) for k, v in job.task_kwargs.items()}
            await jobs.defer_stream(app, args["connection"], args["stream"], args["mode"])
            return
        if job.status in ("aborted", "cancelled") and job.task_name == "syncer:push_outbox":
            await jobs.defer_push(app, str(job.task_kwargs["connection"]))
            return
        raise errors.ConfigError(
            f"job {job_id} is {job.status}: only a failed, aborted, cancelled or stuck job can "
            "be retried"
        )


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="A queued or running job's id.")],
) -> None:
    """Cancel a queued job, or ask a running one to stop (its stream resumes later).

    Example: syncer jobs cancel 42"""
    url = database()
    cancelled = run(_cancel(url, job_id))
    out.print(f"job {job_id} {cancelled}")


async def _cancel(url: str, job_id: int) -> str:
    from syncer import jobs

    app = jobs.make_app(url, max_size=1)
    async with app.open_async():
        if await app.job_manager.cancel_job_by_id_async(job_id):
            return "cancelled"
        if await app.job_manager.cancel_job_by_id_async(job_id, abort=True):
            return "asked to stop"
    raise errors.ConfigError(f"job {job_id} is neither queued nor running (syncer jobs)")


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""
