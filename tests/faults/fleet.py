"""Fleets of syncer processes for the fault experiments of operation (`family_operate.py`):
configs of several Exto credentials, processes whose output goes to files (a worker lives long
enough to fill a pipe nobody reads), and what the queue and `syncer.runs` say about them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from syncer.mirror import table_name
from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.exto import ExtoSandbox
from tests.faults.harness import ROOT, Lab, Outcome, compare, syncer_env
from tests.integration.mirror_check import expected

#: the Exto streams a connection of a fleet syncs
STREAMS = ("master:LOCATION", "module:INSPECTION", "users", "groups")
TOKENS = ("fleet-token-a", "fleet-token-b", "fleet-token-c")
QUEUE = "syncer_jobs"
#: a job in one of these states is settled
SETTLED = ("succeeded", "failed", "cancelled", "aborted")

_labels = itertools.count(1)


def connection(n: int) -> str:
    return f"c{n}"


def token_env(n: int) -> str:
    return f"SYNCER_FAULTS_TOKEN_{n}"


def write_config(lab: Lab, base_url: str, credentials: int, *, user: str, **settings: Any) -> Path:
    """One Exto connection per credential (`c0`, `c1`, ...), each with every stream of
    STREAMS and the push options; `settings` go on every connection."""
    settings.setdefault("rate_limit", 1000)
    blocks = []
    for n in range(credentials):
        lines = [
            "[[connections]]",
            f'name = "{connection(n)}"',
            'vendor = "exto"',
            f'base_url = "{base_url}"',
            f'token_env = "{token_env(n)}"',
            "streams = [" + ", ".join(f'"{s}"' for s in STREAMS) + "]",
            f'options = {{ "unique:LOCATION" = "serial_number", user_name = "{user}" }}',
        ]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        blocks.append("\n".join(lines))
    path = lab.workdir / f"fleet-{next(_labels)}.toml"
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def fleet_env(db_url: str, credentials: int, **extra: str) -> dict[str, str]:
    tokens = {token_env(n): TOKENS[n] for n in range(credentials)}
    return syncer_env(db_url, **tokens, **extra)


def active_user(sb: ExtoSandbox) -> str:
    """A user name the sandbox accepts as a writer (the push option `user_name`)."""
    return str(next(u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1))


@dataclass
class Process:
    """A syncer process of a trial: its label, the process, and the file its output goes to."""

    label: str
    proc: asyncio.subprocess.Process
    log: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        """The JSON log events it wrote so far."""
        found = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(orjson.loads(line))
        return found

    def worker_id(self) -> int | None:
        """procrastinate's id of this worker (its `start_worker` log event), once it started."""
        for event in self.events():
            if event.get("action") == "start_worker":
                return int(event["worker"]["worker_id"])
        return None

    def tail(self, chars: int = 300) -> str:
        return " ".join(self.output()[-chars:].split())


async def launch(lab: Lab, label: str, *args: str, env: dict[str, str]) -> Process:
    """`python -m syncer ARGS`, stdout and stderr into a file of the lab's work directory."""
    path = lab.workdir / f"{label}-{next(_labels)}.log"
    with path.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "syncer", *args, env=env, cwd=ROOT, stdout=sink, stderr=sink
        )
    return Process(label, proc, path, time.monotonic())


async def worker(lab: Lab, label: str, config: Path, env: dict[str, str], *extra: str) -> Process:
    """A `syncer worker` whose queue sessions are named `label` in pg_stat_activity (libpq's
    PGAPPNAME reaches procrastinate's psycopg sessions; asyncpg, syncer's own, ignores it)."""
    return await launch(
        lab, label, "worker", "--config", str(config), *extra, env={**env, "PGAPPNAME": label}
    )


async def finish(process: Process, limit_s: float) -> int | None:
    """The exit code, or None (and the process killed) if it outlived `limit_s`."""
    try:
        return await asyncio.wait_for(process.proc.wait(), timeout=limit_s)
    except TimeoutError:
        process.proc.kill()
        await process.proc.wait()
        return None


async def stop(process: Process, limit_s: float = 60) -> int | None:
    """SIGTERM, then the exit code (None: killed after `limit_s`); a process that already
    ended keeps its code."""
    if process.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.proc.send_signal(signal.SIGTERM)
    return await finish(process, limit_s)


@dataclass(frozen=True)
class Job:
    """A `syncer:sync_stream` job of the queue."""

    id: int
    stream: str  # CONNECTION/STREAM
    status: str
    attempts: int
    worker_id: int | None


async def sync_jobs(db_url: str) -> list[Job]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            f"SELECT id, args->>'connection' AS c, args->>'stream' AS s, status::text, "
            f"attempts, worker_id FROM {QUEUE}.procrastinate_jobs "
            "WHERE task_name = 'syncer:sync_stream' ORDER BY id"
        )
    finally:
        await conn.close()
    return [
        Job(r["id"], f"{r['c']}/{r['s']}", r["status"], r["attempts"], r["worker_id"]) for r in rows
    ]


async def settle(db_url: str, limit_s: float, poll_s: float = 0.5) -> list[Job] | None:
    """The sync jobs once every one is settled, or None if some still wait after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while True:
        found = await sync_jobs(db_url)
        if found and all(j.status in SETTLED for j in found):
            return found
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(poll_s)


@dataclass(frozen=True)
class Run:
    run_id: int
    stream: str
    status: str
    started_at: Any
    finished_at: Any
    pages: int
    resumed_from_page: int
    error: str | None


async def runs(db_url: str) -> list[Run]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT run_id, connection || '/' || stream AS stream, status, started_at, "
            "finished_at, pages, resumed_from_page, error FROM syncer.runs "
            "ORDER BY started_at, run_id"
        )
    finally:
        await conn.close()
    return [Run(**dict(r)) for r in rows]


def overlaps(found: list[Run]) -> list[str]:
    """Runs of one stream that were under way at the same time: a run started before the
    previous one of its stream finished (an abandoned run is finished by the run that found
    it, at that run's start). Also a run still 'running' when everything has ended."""
    problems = []
    last: dict[str, Run] = {}
    for run in found:
        before = last.get(run.stream)
        if before is not None and (
            before.finished_at is None or before.finished_at > run.started_at
        ):
            problems.append(
                f"{run.stream}: run {run.run_id} started at {run.started_at:%H:%M:%S.%f} while "
                f"run {before.run_id} ({before.status}, {before.pages} pages) was under way"
            )
        last[run.stream] = run
    problems += [
        f"{r.stream}: run {r.run_id} still 'running' at the end"
        for r in last.values()
        if r.status == "running"
    ]
    return problems


def want(sb: ExtoSandbox, stream: str) -> dict[str, bytes]:
    """key -> hash of what the vendor holds for one Exto stream."""
    if stream in ("users", "groups"):
        return expected(sb.records(stream), stream)
    kind, name = stream.split(":")
    return expected(sb.records(kind.lower(), name), stream)


async def compare_all(db_url: str, sb: ExtoSandbox, streams: list[str]) -> Outcome:
    """Every stream (CONNECTION/STREAM) compared with the vendor, counts summed; a stream
    that differs is named in the problems."""
    total = Outcome()
    for name in sorted(set(streams)):
        conn, stream = name.split("/", 1)
        found = await compare(db_url, want(sb, stream), table_name(conn, stream))
        for counter in ("lost", "stale", "duplicated", "wrongly_deleted", "extra"):
            setattr(total, counter, getattr(total, counter) + getattr(found, counter))
        if not found.passed:
            total.problems.append(
                f"{name}: {found.lost} lost, {found.stale} stale, {found.duplicated} "
                f"duplicated, {found.extra} extra {' '.join(found.problems)}".strip()
            )
    return total


def requests_by_token(sb: ExtoSandbox) -> dict[str, Counter[int]]:
    """The statuses of the data requests the sandbox answered, per token."""
    out: dict[str, Counter[int]] = {}
    for entry in sb.request_log:
        if "/_sandbox" not in entry.path and entry.token is not None:
            out.setdefault(entry.token, Counter())[entry.status] += 1
    return out


async def enqueue_upserts(db_url: str, conn_name: str, serials: list[int]) -> None:
    """Outbox rows of `conn_name`: upserts of master:LOCATION records by serial number."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "INSERT INTO syncer.outbox (connection, endpoint, operation, payload) "
            "VALUES ($1, 'master:LOCATION', 'upsert', $2::jsonb)",
            [(conn_name, orjson.dumps({"serial_number": s}).decode()) for s in serials],
        )
    finally:
        await conn.close()


async def outbox_states(db_url: str) -> Counter[str]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT state FROM syncer.outbox")
    finally:
        await conn.close()
    return Counter(r["state"] for r in rows)


def refusals(sb: ExtoSandbox, lag: LoopLag) -> list[str]:
    """Each 429: its token, when, what it asked for, and the token's admitted request before it
    (how long before, what it asked for: a stream's pages come from one process), with what
    the sandbox had admitted from the token in the second before and how late its event loop
    ran then."""
    out = []
    admitted: dict[str, list[RequestLogEntry]] = {}
    first = sb.request_log[0].at if sb.request_log else 0.0
    for entry in sb.request_log:
        if entry.token is None or "/_sandbox" in entry.path:
            continue
        before = admitted.setdefault(entry.token, [])
        if entry.status != 429:
            before.append(entry)
            continue
        recent = [e.at for e in before if e.at > entry.at - 1.0]
        previous = (
            f", {(entry.at - before[-1].at) * 1000:.0f} ms after {_asked(before[-1])}"
            if before
            else ""
        )
        late = lag.worst(entry.at - 1.0, entry.at)
        out.append(
            f"{entry.token[-1]}: 429 at {entry.at - first:.2f} s to {_asked(entry)}{previous}; "
            f"{len(recent)} admitted in the second before, sandbox loop up to "
            f"{late * 1000:.0f} ms late"
        )
    return out


def _asked(entry: RequestLogEntry) -> str:
    """A request in a few words: `GET master-record/LOCATION p7`."""
    path = entry.path.removeprefix("/data").removeprefix("/api/v1/")
    page = entry.query.get("page")
    return f"{entry.method} {path}" + (f" p{page}" if page else "")


@contextlib.contextmanager
def vendor_priority() -> Iterator[bool]:
    """This process (the sandbox's event loop, and the harness) at the lowest real-time
    priority for the block, where the machine allows it (root on Linux); the processes it
    starts meanwhile run at normal priority (SCHED_RESET_ON_FORK). The sandbox stands for a
    vendor on a machine of its own: on 2 cores shared with 3 or 4 syncer processes and
    Postgres, it otherwise waits milliseconds for a core now and then, stamps a request late
    and the next one on time, and a token bucket without burst answers 429 to requests that
    left a full interval apart (measured in experiment 21: a request stamped 6.75 ms after it
    left, the next 0.64 ms after; bench/limits.py runs its sandbox this way for that reason).
    Yields whether it could."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except (AttributeError, OSError):
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


class LoopLag:
    """How late this process's event loop (the sandbox's) wakes a 5 ms sleep: a late wake-up
    delays the sandbox's reading of request arrival times, which can bunch them up."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (when, seconds late)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            now = loop.time()
            self.samples.append((now, now - before - 0.005))

    def worst(self, since: float = 0.0, until: float = float("inf")) -> float:
        """The latest wake-up (seconds) between `since` and `until` (the loop's clock)."""
        return max((late for at, late in self.samples if since <= at <= until), default=0.0)


#: the shortest `--stalled-after` a worker takes: a worker silent this long counts as dead
STALLED_AFTER = 15


@dataclass
class Fleet:
    """One trial's workers, running the streams it queued (one job each)."""

    lab: Lab
    config: Path
    env: dict[str, str]
    db_url: str
    workers: list[Process] = field(default_factory=list)

    async def queue(self, streams: list[str]) -> list[str]:
        """Queue one job per stream; problems."""
        queued = await launch(
            self.lab, "queue", "sync", "--config", str(self.config), "--queue",
            *[a for s in streams for a in ("-s", s)], env=self.env,
        )  # fmt: skip
        code = await finish(queued, 60)
        return [] if code == 0 else [f"queueing exited {code}: {queued.tail()}"]

    async def add_worker(self, concurrency: int = 1) -> Process:
        """A worker taking over the jobs of workers silent 15 s. Its housekeeping (the retrier
        of stalled jobs) waits for a free slot like any job."""
        started = await worker(
            self.lab, f"w{len(self.workers) + 1}", self.config, self.env,
            "--concurrency", str(concurrency), "--stalled-after", str(STALLED_AFTER),
        )  # fmt: skip
        self.workers.append(started)
        return started

    async def running(self) -> list[tuple[Job, Process]]:
        """The sync jobs running now, each with the worker process running it."""
        by_id = {p.worker_id(): p for p in self.workers if p.proc.returncode is None}
        return [
            (job, by_id[job.worker_id])
            for job in await sync_jobs(self.db_url)
            if job.status == "doing" and job.worker_id in by_id
        ]

    async def pick(self, u: float, limit_s: float = 60) -> tuple[Job, Process] | None:
        """A running job and its worker (the `u`-th share of those running, by job id), as soon
        as one runs; None if none did within `limit_s`."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            found = await self.running()
            if found:
                return found[int(u * len(found))]
            await asyncio.sleep(0.05)
        return None

    async def stop(self) -> list[int | None]:
        """Stop every worker (SIGTERM) once it has started (before, SIGTERM kills it outright);
        their exit codes (a worker that had ended keeps its)."""
        for _ in range(300):
            if all(w.proc.returncode is not None or w.worker_id() for w in self.workers):
                break
            await asyncio.sleep(0.1)
        return [await stop(w) for w in self.workers]


async def query(db_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def checkpoint(db_url: str, stream: str) -> int:
    """The checkpoint page of the stream's pass in progress (0: none)."""
    conn_name, name = stream.split("/", 1)
    rows = await query(
        db_url,
        "SELECT coalesce(max(p.checkpoint_page), 0) AS page FROM syncer.passes p "
        "JOIN syncer.streams s USING (stream_id) WHERE s.connection = $1 AND s.stream = $2",
        conn_name,
        name,
    )
    return int(rows[0]["page"])


async def starts(db_url: str, job_id: int) -> list[Any]:
    """When the job was started, each time (the database's clock)."""
    rows = await query(
        db_url,
        f"SELECT at FROM {QUEUE}.procrastinate_events WHERE job_id = $1 AND type = 'started' "
        "ORDER BY at",
        job_id,
    )
    return [r["at"] for r in rows]


async def now(db_url: str) -> Any:
    return (await query(db_url, "SELECT pg_catalog.now() AS t"))[0]["t"]
