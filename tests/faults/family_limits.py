"""Fault family: vendor rate limiters of every common kind, correctly and wrongly configured.

18. Per trial a seeded limiter kind (`sliding`, `fixed`, `token_bucket` with a burst of 1 to
    5), a documented rate (5, 10 or 20 requests/s), whether 429s carry `Retry-After`, and the
    share of it the vendor really enforces (`limit_factor`: 1.0 for about a third of the trials,
    else 0.5 to 0.9); syncer is configured at the documented rate and syncs through the CLI.
    The run must exit 0 with the mirror equal to the vendor, within a time limit (else an
    endless pass); a failed run is rerun once (a second failure is a stalled stream). The 429s
    must stay a small share of the requests: none at all is required only of the sandbox, so
    the check is a share, at most 5% with the right rate and 10% with a wrong one.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from tests.faults.harness import (
    Expected,
    Experiment,
    Lab,
    Outcome,
    Spec,
    compare,
    spawn,
    syncer_env,
)

KINDS = ("sliding", "fixed", "token_bucket")
#: the most 429s, as a share of all requests, with the right rate and with a wrong one
MOST_429_RIGHT, MOST_429_WRONG = 0.05, 0.10


@dataclass(frozen=True)
class Limits:
    """One trial's vendor: how it counts, what it documents, what it enforces."""

    kind: str
    burst: int
    rate: int
    factor: float
    retry_after: bool

    @classmethod
    def draw(cls, rng: random.Random) -> Limits:
        kind = rng.choice(KINDS)
        burst = rng.choice((1, 1, 2, 5)) if kind == "token_bucket" else 1
        factor = 1.0 if rng.random() < 0.35 else round(rng.uniform(0.5, 0.9), 2)
        return cls(kind, burst, rng.choice((5, 10, 20)), factor, rng.random() < 0.3)

    def __str__(self) -> str:
        burst = f" burst {self.burst}" if self.kind == "token_bucket" else ""
        after = ", Retry-After" if self.retry_after else ""
        return f"{self.kind}{burst} at {self.factor:.0%} of {self.rate}/s{after}"


async def _sync(config: str, db_url: str, limit_s: float) -> int | None:
    """`syncer sync` through the CLI; its exit code, or None if it outlived `limit_s`."""
    proc = await spawn("sync", "--config", config, env=syncer_env(db_url), quiet=True)
    try:
        return await asyncio.wait_for(proc.wait(), timeout=limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None


async def limiters(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """18. Each limiter kind, correctly and wrongly configured (module docstring)."""
    rng = random.Random(f"limits:{seed}")
    for trial in range(trials):
        limits = Limits.draw(rng)
        url, sb = await lab.sandbox(
            master_records=records,
            seed=seed + trial,
            rate_limit=limits.rate,
            limiter=limits.kind,
            limiter_burst=limits.burst,
            limit_factor=limits.factor,
            retry_after=limits.retry_after,
        )
        want = Expected(sb).hashes
        # about 80 pages, so the run spans many windows and the adaptation has room to work
        page_size = max(10, min(1000, records // 80))
        config = str(lab.config(url, rate_limit=limits.rate, page_size=page_size))
        db_url = await lab.database()
        # the pages at the real rate, twice over, plus time for the adaptation to settle
        limit_s = 2 * (records / page_size) / (limits.rate * limits.factor) + 60
        code = await _sync(config, db_url, limit_s)
        problems: list[str] = []
        endless = stalled = 0
        if code is None:
            endless = 1
            problems.append(f"the run outlived {limit_s:.0f} s")
        elif code != 0:
            problems.append(f"exit {code}")
            again = await _sync(config, db_url, limit_s)
            if again != 0:
                stalled = 1
                problems.append(f"the rerun ended {again} too")
        outcome: Outcome = await compare(db_url, want)
        outcome.endless, outcome.stalled = endless, stalled
        requests = len(sb.request_log)
        limited = sb.count_status(429)
        share = limited / max(1, requests)
        most = MOST_429_RIGHT if limits.factor == 1.0 else MOST_429_WRONG
        if share > most:
            problems.append(f"{limited} 429s of {requests} requests ({share:.1%} > {most:.0%})")
        outcome.problems += problems
        tally.add(outcome)
        tally.notes.append(
            f"trial {trial + 1}: {limits}: exit {code}, {limited} 429s of {requests} requests "
            f"({share:.1%})"
        )


SPECS = [
    Spec(
        18,
        "each limiter kind, correctly and wrongly configured",
        {"full": (12, 4_000), "fast": (2, 1_000)},
        limiters,
    )
]
