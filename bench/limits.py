"""Pacing against each kind of vendor limiter: utilisation and 429s, measured side by side in
one run through real HTTP to an Exto sandbox in its own process (20 requests/s, 100 ms latency).

For each kind (`sliding`, `fixed`, `token_bucket` with burst 1) it runs syncer twice: with the
vendor's real limit equal to the configured `rate_limit`, and at 75% of it (`limit_factor`
0.75). It prints the requests the sandbox accepted per second (first to last request) over the
limit it really enforced, and the 429s. Against the token bucket at the correct rate it also
runs syncer on pages of 50 records, which syncer decodes on its event loop rather than in its
worker processes. At the correct rate it also runs syncer with its gate
replaced by aiolimiter's `AsyncLimiter` of capacity 1 (`bench/aiolimiter_gate.py`), the
alternative the pacing was chosen against. Part of `make bench` (bench/run.py calls
`measure_limits`); runnable alone: `python bench/limits.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import common  # bench/common.py, beside this file
import orjson

RATE = 20
LATENCY_MS = 100
KINDS = ("sliding", "fixed", "token_bucket")
#: the sandbox's master records: small pages of them keep the CPU of a 2-core machine (syncer,
#: the sandbox and Postgres) well below what 20 requests/s need, so the pacing is measured
RECORDS = 20_000


@dataclass(frozen=True)
class Case:
    kind: str
    factor: float
    pacer: str  # "syncer" or "aiolimiter"
    page_size: int  # over RECORDS: 100 -> 200 requests, 67 -> 300, 50 -> 400

    @property
    def label(self) -> str:
        burst = " burst 1" if self.kind == "token_bucket" else ""
        limit = "correct rate" if self.factor == 1 else f"real limit {self.factor:.0%}"
        small = f", pages of {self.page_size}" if self.page_size < SMALL_PAGE else ""
        return f"{self.kind}{burst}, {limit}{small}, {self.pacer}"


#: pages smaller than this (about 64 KB of body) are decoded on syncer's event loop, larger ones
#: in its worker processes (syncer/workers.py): the small-page case shows the first path
SMALL_PAGE = 90

CASES = [
    *(Case(kind, 1.0, "syncer", 100) for kind in KINDS),
    Case("token_bucket", 1.0, "syncer", 50),
    *(Case(kind, 0.75, "syncer", 67) for kind in KINDS),
    *(Case(kind, 1.0, "aiolimiter", 100) for kind in KINDS),
]

SyncOnce = Callable[..., Awaitable[dict[str, Any]]]


async def _post(root: str, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as session, session.post(root + path, json=body) as resp:
        return await resp.json()


async def _log(root: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(root + "/_sandbox/log") as resp:
        entries: list[dict[str, Any]] = await resp.json()
        return entries


async def measure(case: Case, database_url: str, base: str, sync_once: SyncOnce) -> dict[str, Any]:
    """One syncer run of master:LOCATION against the sandbox at `base`, set up for `case`."""
    root = base.removesuffix("/data")
    knobs = {
        "rate_limit": RATE,
        "latency_ms": LATENCY_MS,
        "limiter": case.kind,
        "limiter_burst": 1,
        "limit_factor": case.factor,
    }
    await _post(root, "/_sandbox/config", knobs)
    await asyncio.sleep(1.1)  # no window or bucket left over from the previous case
    await _post(root, "/_sandbox/reset-log", {})
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base,
        "token_env": "SYNCER_BENCH_TOKEN",
        "rate_limit": RATE,
        "page_size": case.page_size,
        "streams": ["master:LOCATION"],
    }
    config = orjson.dumps({"connections": [connection]}).decode()
    extra = ("--pacer", case.pacer) if case.pacer != "syncer" else ()
    result = await sync_once(database_url, "--config", config, *extra)
    await _post(root, "/_sandbox/config", {"limiter": "sliding", "limit_factor": 1.0})
    entries = await _log(root)
    # from the second request on: syncer reads the first page alone while its pipeline starts
    # (decoding workers, the mirror table), a pause of its own that pacing has no part in
    times = sorted(e["at"] for e in entries if e["status"] != 429)[1:]
    accepted_per_s = (len(times) - 1) / (times[-1] - times[0])
    limited = sum(1 for e in entries if e["status"] == 429)
    # how evenly requests arrived: the shortest gap between two arrivals, against the
    # vendor's own interval (1/20 s at the correct rate)
    arrivals = sorted(e["at"] for e in entries)[1:]
    shortest = min(b - a for a, b in itertools.pairwise(arrivals))
    return {
        "case": case.label,
        "kind": case.kind,
        "factor": case.factor,
        "pacer": case.pacer,
        "requests": len(entries),
        "rate_limited": limited,
        "share_429": limited / len(entries),
        "utilisation": accepted_per_s / (RATE * case.factor),
        "shortest_gap_ms": shortest * 1000,
        "status": result["status"],
        "seconds": result["seconds"],
    }


async def measure_limits(admin_url: str) -> list[dict[str, Any]]:
    """Every case in turn against one sandbox process of RECORDS master records, each case into
    a fresh database."""

    port = common.free_port()
    sandbox = common.start_sandbox(RECORDS, port)
    base = f"http://127.0.0.1:{port}/data"
    results = []
    try:
        await common.wait_ready(base)
        await common.warm(base)
        realtime = _vendor_priority(sandbox.pid)
        for number, case in enumerate(CASES):
            database_url = await common.fresh_database(admin_url, f"syncer_bench_limits_{number}")
            results.append(await measure(case, database_url, base, common.sync_once_any))
            results[-1]["sandbox_realtime"] = realtime
    finally:
        sandbox.terminate()
        sandbox.wait()
    return results


def _vendor_priority(pid: int) -> bool:
    """Run the sandbox at the lowest real-time priority, where the bench may (root on Linux).

    The sandbox stands for a vendor on a machine of its own: on a busy 2-core machine shared
    with syncer and Postgres, its process otherwise waits milliseconds for a core now and then,
    so its limiter stamps a request late and the next one early, and a token bucket without
    burst answers 429 to requests that left evenly spaced (measured: gaps of 45 ms at the
    sandbox between requests that left 51.5 ms apart).
    """
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
    except (AttributeError, OSError):
        return False
    return True


def report(results: list[dict[str, Any]]) -> None:
    realtime = all(r["sandbox_realtime"] for r in results)
    print(
        f"pacing against each limiter kind ({RATE} req/s, {LATENCY_MS} ms latency, sandbox at "
        f"{'real-time' if realtime else 'normal'} priority; the vendor's interval is 50 ms; "
        "targets: correct rate 0 429s and >= 0.95, real limit 75%: <= 5% 429s and >= 0.85)"
    )
    for r in results:
        print(
            f"  {r['case']:<60} utilisation {r['utilisation']:.3f} of the real limit, "
            f"{r['rate_limited']:>3} 429s of {r['requests']} requests ({r['share_429']:.1%}), "
            f"shortest gap {r['shortest_gap_ms']:.1f} ms, {r['status']}"
        )


if __name__ == "__main__":
    common.standalone(measure_limits, report)
