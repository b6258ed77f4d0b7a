"""The fault experiments of docs/reliability.md, each a seeded, replayable function.

`await EXPERIMENTS[n].run(lab, profile, seed)` runs experiment n with the trial count and data
size of `profile` ("full" for `make test-faults`, "fast" for `make test`) and returns its tally.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
import psutil

from tests.faults.harness import Expected, Experiment, Lab, Outcome, compare, run, spawn
from tests.faults.harness import syncer_env as env

Profile = Literal["full", "fast"]


@dataclass(frozen=True)
class Spec:
    number: int
    name: str
    #: profile -> (trials, records)
    sizes: dict[str, tuple[int, int]]
    body: Callable[[Lab, Experiment, int, int, int], Awaitable[None]]

    async def run(self, lab: Lab, profile: Profile, seed: int) -> Experiment:
        trials, records = self.sizes[profile]
        tally = Experiment(self.number, self.name)
        started = time.monotonic()
        await self.body(lab, tally, trials, records, seed)
        tally.seconds = time.monotonic() - started
        return tally


class _Descendants:
    """The processes a syncer run started (its page-decoding workers): none may outlive it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, psutil.Process] = {}

    def snapshot(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)

    async def outlived(self, grace: float = 5.0) -> list[str]:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            alive = [p for p in self.seen.values() if _running(p)]
            if not alive:
                return []
            await asyncio.sleep(0.1)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        return [f"{len(alive)} worker processes outlived the killed run by {grace:.0f} s"]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def _checkpoint(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        value = await conn.fetchval(
            "SELECT coalesce(max(checkpoint_page), 0) FROM syncer.stream_state"
        )
    finally:
        await conn.close()
    return int(value or 0)


async def sigkill(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """1. SIGKILL at a uniformly random moment of a backfill, then a rerun; plus kills just
    before and just after a page's COMMIT (`SYNCER_KILL_AT`)."""
    url, sb = await lab.sandbox(master_records=records, seed=seed)
    want = Expected(sb).hashes
    config = str(lab.config(url))
    # calibrate: how long an uninterrupted backfill takes here
    db_url = await lab.database()
    done = await run("sync", "--config", config, env=env(db_url))
    if done.code != 0:
        tally.notes.append(f"calibration run failed: {done.err[-300:]}")
        return
    length = done.seconds
    rng = random.Random(f"{seed}:sigkill")
    pages = -(-records // 1000)
    targeted = [
        (where, nth)
        for nth in sorted({1, max(1, pages // 2), pages})
        for where in ("before_commit", "after_commit")
    ]
    random_trials = max(0, trials - len(targeted))
    for trial in range(random_trials + len(targeted)):
        db_url = await lab.database()
        outcome = Outcome()
        if trial < random_trials:
            delay = rng.uniform(0, length)
            proc = await spawn("sync", "--config", config, env=env(db_url), quiet=True)
            watcher = _Descendants(proc.pid)
            try:
                await asyncio.wait_for(proc.wait(), timeout=delay)
            except TimeoutError:
                watcher.snapshot()
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
            outcome.problems += await watcher.outlived()
        else:
            where, nth = targeted[trial - random_trials]
            kill_env = env(db_url, SYNCER_KILL_AT=f"{where}:{nth}")
            proc = await spawn("sync", "--config", config, env=kill_env, quiet=True)
            watcher = _Descendants(proc.pid)
            while proc.returncode is None:
                watcher.snapshot()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), timeout=0.05)
            if proc.returncode != -signal.SIGKILL:
                outcome.problems.append(f"{where}:{nth} did not kill (exit {proc.returncode})")
            outcome.problems += await watcher.outlived()
            at = await _checkpoint(db_url)
            if at != (nth - 1 if where == "before_commit" else nth):
                outcome.problems.append(f"{where}:{nth} left the checkpoint at page {at}")
        rerun = await run("sync", "--config", config, env=env(db_url))
        if rerun.code != 0:
            outcome.problems.append(f"rerun exited {rerun.code}: {rerun.err[-200:]}")
        found = await compare(db_url, want)
        found.problems += outcome.problems
        tally.add(found)


async def two_runs(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """5. Two runs started at once: exactly one proceeds, the other exits 4 within 5 s."""
    url, sb = await lab.sandbox(master_records=records, seed=seed, latency_ms=20)
    want = Expected(sb).hashes
    config = str(lab.config(url, window=2))
    for _ in range(trials):
        db_url = await lab.database()
        started = time.monotonic()
        procs = [await spawn("sync", "--config", config, env=env(db_url)) for _ in range(2)]

        async def finish(
            proc: asyncio.subprocess.Process, started: float = started
        ) -> tuple[int, float]:
            await proc.communicate()
            assert proc.returncode is not None
            return proc.returncode, time.monotonic() - started

        ends = await asyncio.gather(*(finish(p) for p in procs))
        outcome = await compare(db_url, want)
        codes = sorted(code for code, _ in ends)
        if codes != [0, 4]:
            outcome.problems.append(f"exit codes {codes}, expected one 0 and one 4")
        loser = [seconds for code, seconds in ends if code == 4]
        if loser and loser[0] >= 5:
            outcome.problems.append(f"the second run took {loser[0]:.1f} s to exit 4")
        tally.add(outcome)


EXPERIMENTS: dict[int, Spec] = {
    spec.number: spec
    for spec in (
        Spec(
            1,
            "SIGKILL during a backfill, then rerun",
            {"full": (50, 300_000), "fast": (7, 5_000)},
            sigkill,
        ),
        Spec(
            5,
            "two runs started at once",
            {"full": (100, 3_000), "fast": (3, 3_000)},
            two_runs,
        ),
    )
}
