"""Operating syncer (issue 11): one rate budget across processes, a worker killed, and a queue
that loses its bookkeeping (experiments 21, 22 and 23, docs/reliability.md).

Every trial ends with the mirror/vendor comparison of every stream it ran (`fleet.compare_all`)
plus the checks of its own: 429s in the sandbox's log, exit codes, how the queue's jobs ended,
and that no two runs of a stream were ever under way at once (`fleet.overlaps`).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from syncer.sandbox.exto.state import ExtoSandbox
from tests.faults import fleet
from tests.faults.fleet import Process
from tests.faults.harness import Experiment, Lab, Outcome, Spec

KINDS = ("sliding", "fixed", "token_bucket")
#: a trial's processes still running after this long are killed (an endless pass)
LIMIT_S = 180.0


@dataclass
class Mix:
    """One trial of experiment 21: who runs what, all at once."""

    #: per CLI sync, its streams (CONNECTION/STREAM)
    syncs: list[list[str]] = field(default_factory=list)
    #: per push, its connection and how many rows it sends
    pushes: list[tuple[str, int]] = field(default_factory=list)
    workers: int = 0
    #: the streams queued for the workers
    queued: list[str] = field(default_factory=list)

    @classmethod
    def draw(cls, rng: random.Random, credentials: int) -> Mix:
        """2 to 4 processes: 1 or 2 workers, the others CLI syncs or pushes; every stream
        goes to at most one of them (two runs of a stream would only wait on each other)."""
        processes = rng.randint(2, 4)
        mix = cls(workers=rng.randint(1, min(2, processes - 1)))
        streams = [f"{fleet.connection(n)}/{s}" for n in range(credentials) for s in fleet.STREAMS]
        rng.shuffle(streams)
        others = [rng.choice(("sync", "push")) for _ in range(processes - mix.workers)]
        takers = others.count("sync") + 1  # the syncs and the workers' queue
        cuts = sorted(rng.sample(range(1, len(streams)), takers - 1))
        shares = [streams[a:b] for a, b in zip([0, *cuts], [*cuts, len(streams)], strict=True)]
        mix.queued = shares.pop()
        mix.syncs = shares
        # a push per connection at most: a second one would exit 4 (a push of it is running)
        pushing = rng.sample(range(credentials), min(credentials, others.count("push")))
        mix.pushes = [(fleet.connection(n), rng.randint(20, 40)) for n in pushing]
        return mix

    def __str__(self) -> str:
        parts = [f"{self.workers} worker{'s' * (self.workers > 1)} ({len(self.queued)} queued)"]
        parts += [f"sync of {len(s)}" for s in self.syncs]
        parts += [f"push of {rows} ({conn})" for conn, rows in self.pushes]
        return ", ".join(parts)


async def shared_budget(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """21. 2 or 3 credentials of a vendor enforcing its documented rate per token (a sliding
    window, fixed windows or a token bucket without burst); 2 to 4 processes at once: CLI
    syncs, pushes and 1 or 2 workers running queued streams. No request may draw a 429; every
    process succeeds; every stream ends equal."""
    rng = random.Random(f"{seed}:shared-budget")
    for trial in range(trials):
        kind, rate, credentials = rng.choice(KINDS), rng.choice((5, 10)), rng.choice((2, 3))
        url, sb = await lab.sandbox(
            master_records=records,
            module_records=records // 2,
            users=60,
            seed=seed + trial,
            rate_limit=rate,
            limiter=kind,
            limiter_burst=1,
            tokens=fleet.TOKENS[:credentials],
        )
        config = fleet.write_config(
            lab, url, credentials, user=fleet.active_user(sb), rate_limit=rate, page_size=25
        )
        db_url = await lab.database()
        env = fleet.fleet_env(db_url, credentials)
        mix = Mix.draw(rng, credentials)
        outcome = Outcome()
        queue = await fleet.launch(
            lab, "queue", "sync", "--config", str(config), "--queue",
            *[a for s in mix.queued for a in ("-s", s)], env=env,
        )  # fmt: skip
        if await fleet.finish(queue, 60) != 0:
            outcome.problems.append(f"queueing failed: {queue.tail()}")
        serial = 5_000_000 + 1_000 * trial
        for conn, rows in mix.pushes:
            await fleet.enqueue_upserts(db_url, conn, list(range(serial, serial + rows)))
            serial += rows
        sb.reset_log()
        label = f"trial {trial + 1}: {kind} at {rate}/s, {credentials} tokens"
        with fleet.vendor_priority() as realtime:
            found, note = await _run_mix(lab, sb, mix, config, db_url, env, outcome, label)
        tally.add(found)
        tally.notes.append(note + ("" if realtime else " (the sandbox at normal priority)"))


async def _run_mix(
    lab: Lab,
    sb: ExtoSandbox,
    mix: Mix,
    config: Path,
    db_url: str,
    env: dict[str, str],
    outcome: Outcome,
    label: str,
) -> tuple[Outcome, str]:
    """One trial of experiment 21 once its queue and outbox are ready: every process at
    once, then the checks."""
    started = time.monotonic()
    lag = fleet.LoopLag().start()
    cli: list[Process] = []
    for n, streams in enumerate(mix.syncs):
        args = [a for s in streams for a in ("-s", s)]
        cli.append(
            await fleet.launch(lab, f"sync{n}", "sync", "--config", str(config), *args, env=env)
        )
    for n, (conn, _) in enumerate(mix.pushes):
        cli.append(
            await fleet.launch(
                lab, f"push{n}", "push", "--config", str(config), "--connection", conn, env=env
            )
        )
    workers = [await fleet.worker(lab, f"w{n}", config, env) for n in range(mix.workers)]
    codes = await asyncio.gather(*(fleet.finish(p, LIMIT_S) for p in cli))
    jobs = await fleet.settle(db_url, LIMIT_S - (time.monotonic() - started))
    stopped = [await fleet.stop(w) for w in workers]
    lag.stop()
    seconds = time.monotonic() - started
    for process, code in zip(cli, codes, strict=True):
        if code is None:
            outcome.endless += 1
            outcome.problems.append(f"{process.label} outlived {LIMIT_S:.0f} s")
        elif code != 0:
            outcome.problems.append(f"{process.label} exited {code}: {process.tail()}")
    if jobs is None:
        outcome.endless += 1
        outcome.problems.append(f"the queued jobs did not settle in {LIMIT_S:.0f} s")
    elif any(j.status != "succeeded" for j in jobs):
        outcome.problems.append("jobs: " + ", ".join(f"{j.stream} {j.status}" for j in jobs))
    if any(code != 0 for code in stopped):
        outcome.problems.append(f"workers stopped with {stopped}")
    states = await fleet.outbox_states(db_url)
    if set(states) - {"accepted"}:
        outcome.problems.append(f"outbox rows: {dict(states)}")
    by_token = fleet.requests_by_token(sb)
    requests = sum(sum(c.values()) for c in by_token.values())
    limited = sum(c[429] for c in by_token.values())
    refusals = fleet.refusals(sb, lag)
    if limited:
        outcome.problems.append(f"{limited} answers 429")
    synced = [s for share in mix.syncs for s in share] + mix.queued
    if mix.pushes:
        # records the pushes created after a concurrent pass had read past them: one
        # more run of each master stream (through the same budget) brings them in
        masters = [s for s in synced if s.endswith("/master:LOCATION")]
        if masters:
            last = await fleet.launch(
                lab, "catch-up", "sync", "--config", str(config),
                *[a for s in masters for a in ("-s", s)], env=env,
            )  # fmt: skip
            if await fleet.finish(last, LIMIT_S) != 0:
                outcome.problems.append(f"the catch-up sync failed: {last.tail()}")
            caught = sum(c[429] for c in fleet.requests_by_token(sb).values()) - limited
            if caught:
                outcome.problems.append(f"the catch-up sync drew {caught} answers 429")
    found = await fleet.compare_all(db_url, sb, synced)
    found.endless, found.problems = outcome.endless, outcome.problems + found.problems
    note = (
        f"{label}; {mix}; {requests} requests, {limited} answers 429, {seconds:.0f} s (the "
        f"sandbox's loop up to {lag.worst() * 1000:.0f} ms late)"
        + "".join(f"; {r}" for r in refusals)
    )
    return found, note


def big_streams(credentials: int) -> list[str]:
    """The streams whose runs last seconds: master and module of every connection."""
    return [
        f"{fleet.connection(n)}/{s}"
        for n in range(credentials)
        for s in ("master:LOCATION", "module:INSPECTION")
    ]


async def worker_killed(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """22. 1 to 3 workers (`--stalled-after 15`) run queued streams whose runs last seconds; at
    a seeded moment the worker running a seeded one of the running jobs gets SIGKILL, and a new
    worker starts (or the survivors take over). The job must be queued again and succeed, like
    every other; no two runs of a stream may be under way at once; every stream ends equal."""
    rng = random.Random(f"{seed}:worker-killed")
    for trial in range(trials):
        count, credentials = rng.randint(1, 3), rng.choice((1, 2))
        survivors = count > 1 and rng.random() < 0.5
        delay, share = rng.uniform(0.5, 2.5), rng.random()
        url, sb = await lab.sandbox(
            master_records=records,
            module_records=records // 2,
            seed=seed + trial,
            latency_ms=40,
            tokens=fleet.TOKENS[:credentials],
        )
        # about 75 pages of the master at 40 ms, whatever the records: a run lasts 3 s or more
        size = max(10, records // 75)
        config = fleet.write_config(
            lab, url, credentials, user=fleet.active_user(sb), page_size=size, window=1
        )
        db_url = await lab.database()
        team = fleet.Fleet(lab, config, fleet.fleet_env(db_url, credentials), db_url)
        streams = big_streams(credentials)
        outcome = Outcome()
        outcome.problems += await team.queue(streams)
        started = time.monotonic()
        for _ in range(count):
            await team.add_worker()
        await team.pick(0.0)
        await asyncio.sleep(delay)
        picked = await team.pick(share, limit_s=5)
        what = "no job was running"
        victim = team.workers[0]
        if picked is not None:
            victim = picked[1]
        if victim.proc.returncode is None:
            victim.proc.kill()
        await victim.proc.wait()
        killed_at = await fleet.now(db_url)
        if picked is not None:
            job = picked[0]
            page = await fleet.checkpoint(db_url, job.stream)
            what = f"running {job.stream} (job {job.id}, at checkpoint page {page})"
            if next(j for j in await fleet.sync_jobs(db_url) if j.id == job.id).status != "doing":
                what += ", which had just finished"
                picked = None  # nothing to take over
        if lab.profile == "fast":
            # a fast trial ages the dead worker's heartbeat rather than wait 15 s for it
            await fleet.query(
                db_url,
                f"UPDATE {fleet.QUEUE}.procrastinate_workers "
                "SET last_heartbeat = pg_catalog.now() - interval '1 hour' WHERE id = $1",
                victim.worker_id(),
            )
        if not survivors:
            await team.add_worker()
        jobs = await fleet.settle(db_url, LIMIT_S)
        stopped = await team.stop()
        seconds = time.monotonic() - started
        if jobs is None:
            outcome.stalled += 1
            outcome.problems.append(f"the jobs did not settle in {LIMIT_S:.0f} s")
        elif any(j.status != "succeeded" for j in jobs):
            outcome.problems.append("jobs: " + ", ".join(f"{j.stream} {j.status}" for j in jobs))
        if any(code != 0 for w, code in zip(team.workers, stopped, strict=True) if w != victim):
            outcome.problems.append(f"workers stopped with {stopped} ({victim.label} killed)")
        runs = await fleet.runs(db_url)
        outcome.problems += fleet.overlaps(runs)
        resumed = ""
        if picked is not None:
            job = picked[0]
            times = await fleet.starts(db_url, job.id)
            after = [r for r in runs if r.stream == job.stream and r.started_at > killed_at]
            if len(times) < 2 or not after:
                outcome.problems.append(f"job {job.id} of {job.stream} never started again")
            else:
                resumed = (
                    f"; started again {(times[-1] - killed_at).total_seconds():.0f} s after the "
                    f"kill, resumed from page {after[0].resumed_from_page}"
                )
        found = await fleet.compare_all(db_url, sb, streams)
        found.stalled, found.problems = outcome.stalled, outcome.problems + found.problems
        tally.add(found)
        takeover = "the survivors took over" if survivors else "a new worker started"
        tally.notes.append(
            f"trial {trial + 1}: {count} worker{'s' * (count > 1)}, {credentials} token"
            f"{'s' * (credentials > 1)}; {victim.label} killed {delay:.1f} s in, {what}; "
            f"{takeover}{resumed}; {seconds:.0f} s"
        )


#: how experiment 23 makes the queue lose track of a running job (see `lost_job_lock`)
LOSSES = ("row deleted", "sessions cut", "frozen")
#: sessions cut / frozen this long: past `--stalled-after`, and a tick of the stalled-job retrier
LOSS_S = fleet.STALLED_AFTER + 12


async def lose(kind: str, team: fleet.Fleet, victim: Process) -> str:
    """Make the queue lose track of `victim`'s running job, the `kind` way; what was done."""
    if kind == "row deleted":
        # its job's worker_id becomes NULL (ON DELETE SET NULL): stalled at the next tick
        await fleet.query(
            team.db_url,
            f"DELETE FROM {fleet.QUEUE}.procrastinate_workers WHERE id = $1",
            victim.worker_id(),
        )
        return f"deleted {victim.label}'s row of procrastinate_workers"
    if kind == "frozen":
        # SIGSTOP: no heartbeat, no request, no query, while every session stays open (the
        # stream's advisory lock too): a VM paused, a process stopped by a debugger
        victim.proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(LOSS_S)
        victim.proc.send_signal(signal.SIGCONT)
        return f"froze {victim.label} {LOSS_S} s (SIGSTOP, SIGCONT)"
    # the worker's queue sessions (its pool, its LISTEN session) terminated again and again;
    # syncer's own sessions (asyncpg: no PGAPPNAME) are left alone
    cut = 0
    deadline = time.monotonic() + LOSS_S
    while time.monotonic() < deadline:
        rows = await fleet.query(
            team.db_url,
            "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) AS n "
            "FROM pg_catalog.pg_stat_activity "
            "WHERE application_name = $1 AND datname = pg_catalog.current_database()",
            victim.label,
        )
        cut += rows[0]["n"]
        await asyncio.sleep(0.25)
    return f"terminated {cut} queue sessions of {victim.label} over {LOSS_S} s"


def refused(team: fleet.Fleet) -> int:
    """Runs the workers started that found the stream's lock taken (exit 4, retried later)."""
    return sum(
        1
        for w in team.workers
        for event in w.events()
        if event.get("event") == "stream.failed" and event.get("exit_code") == 4
    )


def stopped_why(worker: Process) -> str:
    """Why a worker stopped taking jobs before it was asked to, from its log."""
    for event in worker.events():
        if event.get("action") == "side_task_failed":
            return f" ({' '.join(str(event['event']).split())})"
    if "ForeignKeyViolation" in worker.output():
        return " (ForeignKeyViolation fetching a job: its worker row is gone)"
    return ""


async def lost_job_lock(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """23. Two workers (`--stalled-after 15`) run queued streams whose runs last 10 s or more;
    at a seeded moment the queue loses track of a running job: its worker's row of
    procrastinate_workers is deleted, or its worker's queue sessions are terminated again and
    again for 27 s, or its worker is frozen 27 s (SIGSTOP). The job may then be queued again
    and started by the other worker while its first run still holds the stream: the two runs
    must never both be under way (the stream's lock: the second exits 4 and is retried), and
    after the queue settles and one more sync, every stream ends equal."""
    rng = random.Random(f"{seed}:lost-job-lock")
    order = rng.sample(LOSSES, len(LOSSES))
    for trial in range(trials):
        kind = "row deleted" if lab.profile == "fast" else order[trial % len(order)]
        credentials = 1
        delay, share = rng.uniform(0.5, 2.0), rng.random()
        url, sb = await lab.sandbox(
            master_records=records,
            module_records=records // 2,
            seed=seed + trial,
            latency_ms=150,
            tokens=fleet.TOKENS[:credentials],
        )
        config = fleet.write_config(
            lab, url, credentials, user=fleet.active_user(sb), page_size=25, window=1
        )
        db_url = await lab.database()
        env = fleet.fleet_env(db_url, credentials)
        team = fleet.Fleet(lab, config, env, db_url)
        streams = big_streams(credentials)
        outcome = Outcome()
        outcome.problems += await team.queue(streams)
        started = time.monotonic()
        for _ in range(2):
            # two slots each for two jobs: whichever worker loses track of its job, a slot is
            # free for the retrier of stalled jobs (a housekeeping job) and the job's next run
            await team.add_worker(concurrency=2)
        await team.pick(0.0)
        await asyncio.sleep(delay)
        picked = await team.pick(share, limit_s=5)
        if picked is None:
            outcome.problems.append("no job was running when the fault was due")
            await team.stop()
            tally.add(outcome)
            continue
        job, victim = picked
        done = await lose(kind, team, victim)
        jobs = await fleet.settle(db_url, LIMIT_S)
        alive = victim.proc.returncode is None
        stopped = await team.stop()
        if jobs is None:
            outcome.stalled += 1
            outcome.problems.append(f"the jobs did not settle in {LIMIT_S:.0f} s")
        sb.config.latency_ms = 0  # the closing sync re-reads every stream: no need to wait
        last = await fleet.launch(
            lab, "converge", "sync", "--config", str(config),
            *[a for s in streams for a in ("-s", s)], env=env,
        )  # fmt: skip
        code = await fleet.finish(last, LIMIT_S)
        if code != 0:
            outcome.stalled += 1
            outcome.problems.append(f"the closing sync exited {code}: {last.tail()}")
        outcome.problems += fleet.overlaps(await fleet.runs(db_url))
        seconds = time.monotonic() - started
        found = await fleet.compare_all(db_url, sb, streams)
        found.stalled, found.problems = outcome.stalled, outcome.problems + found.problems
        tally.add(found)
        ends = await fleet.sync_jobs(db_url)
        mine = next(j for j in ends if j.id == job.id)
        times = len(await fleet.starts(db_url, job.id))
        fate = (
            f"{victim.label} alive (SIGTERM: exit {stopped[team.workers.index(victim)]})"
            if alive
            else f"{victim.label} exited {victim.proc.returncode} by itself"
        ) + stopped_why(victim)
        tally.notes.append(
            f"trial {trial + 1}: {kind}: {done} {delay:.1f} s in, while it ran {job.stream} "
            f"(job {job.id}); the job started {times} time{'s' * (times > 1)}, ended "
            f"{mine.status} after {mine.attempts} attempts; {refused(team)} runs found the "
            f"stream locked; {fate}; jobs "
            + ", ".join(f"{j.status}" for j in ends)
            + f"; {seconds:.0f} s"
        )


SPECS = [
    Spec(
        21,
        "the rate limit across processes: syncs, pushes and workers of 2-3 tokens at once",
        {"full": (10, 600), "fast": (1, 200)},
        shared_budget,
    ),
    Spec(
        22,
        "a worker killed mid-job: its job queued again and finished by another",
        {"full": (6, 3_000), "fast": (1, 1_000)},
        worker_killed,
    ),
    Spec(
        23,
        "the queue loses a running job: worker row deleted, queue sessions cut, worker frozen",
        {"full": (6, 3_000), "fast": (1, 1_000)},
        lost_job_lock,
    ),
]
