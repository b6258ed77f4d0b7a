"""`make bench-large`: syncer's peak RSS from 100,000 to 1,000,000 records (issue 15: flat).

Two sandboxes in their own processes, 1,000,000 and 100,000 Exto master records (no rate
limit); two fresh databases. Each is first loaded from its sandbox, settled (`VACUUM ANALYZE;
CHECKPOINT`), then re-synced unchanged; every run is bench/sync_once.py in its own process,
its peak RSS (syncer's process and its page-decoding workers, bench/rss.py) sampled from here.
Prints each run's peak RSS and records/s, the ratios 1M/100k (target: at most 1.15), and the
sandboxes' own RSS (not syncer's: a sandbox holds all its records in memory); writes
bench/results-large.json. Runnable alone: `python bench/large.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import common  # bench/common.py, beside this file
import orjson
import psutil

LARGE, SMALL = 1_000_000, 100_000
#: most seconds a sandbox may take to build its records (1,000,000: about 35 s on 2 cores)
READY_S = 300
#: the flatness issue 15 asks for: peak RSS at 1,000,000 over that at 100,000
TARGET = 1.15


async def _ready(base: str) -> None:
    deadline = time.monotonic() + READY_S
    while True:
        try:
            await common.wait_ready(base)  # gives up after a minute
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise


async def _sync(database_url: str, base: str) -> dict[str, Any]:
    """One Exto master:LOCATION run in its own process (it must succeed)."""
    result = await common.sync_once_any(database_url, base, "100000")
    if result["status"] != "succeeded":
        raise RuntimeError(f"syncer run failed: {result['error']}")
    return result


async def _load_and_resync(admin: str, base: str, records: int, name: str) -> dict[str, Any]:
    """A first load and an unchanged re-sync of `records` into a fresh database `name`."""
    database_url = await common.fresh_database(admin, name)
    figures: dict[str, Any] = {}
    for run in ("first_load", "unchanged"):
        if run == "unchanged":
            await common.settle(database_url)
        print(f"syncer {run.replace('_', ' ')}, {records:,} records ...", flush=True)
        result = await _sync(database_url, base)
        if result["stats"]["records"] != records:
            raise RuntimeError(f"{run} read {result['stats']['records']} of {records} records")
        figures[f"{run}_peak_rss_mb"] = result["peak_rss_mb"]
        figures[f"{run}_records_per_s"] = records / result["seconds"]
        figures[f"{run}_seconds"] = result["seconds"]
    return figures


async def measure_large(admin: str) -> dict[str, Any]:
    large_port, small_port = common.free_port(), common.free_port()
    sandboxes = [common.start_sandbox(LARGE, large_port), common.start_sandbox(SMALL, small_port)]
    large = f"http://127.0.0.1:{large_port}/data"
    small = f"http://127.0.0.1:{small_port}/data"
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        await asyncio.gather(_ready(large), _ready(small))
        figures["sandbox_ready_s"] = time.perf_counter() - started
        await asyncio.gather(common.warm(large), common.warm(small))
        figures["sandbox_rss_mb_1m"], figures["sandbox_rss_mb_100k"] = (
            psutil.Process(p.pid).memory_info().rss / 2**20 for p in sandboxes
        )
        # the smaller one first: its sandbox is then stopped, so the 1M runs have its memory
        figures["100k"] = await _load_and_resync(admin, small, SMALL, "syncer_bench_large_100k")
        sandboxes[1].terminate()
        figures["1m"] = await _load_and_resync(admin, large, LARGE, "syncer_bench_large_1m")
    finally:
        for proc in sandboxes:
            proc.terminate()
            proc.wait()
    figures["total_s"] = time.perf_counter() - started
    for run in ("first_load", "unchanged"):
        key = f"{run}_peak_rss_mb"
        figures[f"{run}_rss_ratio"] = figures["1m"][key] / figures["100k"][key]
    (common.ROOT / "bench" / "results-large.json").write_text(
        orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode()
    )
    return figures


def report(f: dict[str, Any]) -> None:
    big, small = f["1m"], f["100k"]
    for run, label in (("first_load", "first load"), ("unchanged", "unchanged re-sync")):
        print(
            f"peak RSS, {label:<18} {small[f'{run}_peak_rss_mb']:>5.0f} MB at 100,000 "
            f"({small[f'{run}_records_per_s']:,.0f} records/s); "
            f"{big[f'{run}_peak_rss_mb']:.0f} MB at 1,000,000 "
            f"({big[f'{run}_records_per_s']:,.0f} records/s, {big[f'{run}_seconds']:.0f} s): "
            f"ratio {f[f'{run}_rss_ratio']:.2f} (target <= {TARGET})"
        )
    print(
        f"sandbox (not syncer)  {f['sandbox_rss_mb_1m']:,.0f} MB for 1,000,000 records, "
        f"{f['sandbox_rss_mb_100k']:,.0f} MB for 100,000; both ready in "
        f"{f['sandbox_ready_s']:.0f} s; the whole measure {f['total_s']:.0f} s"
    )


if __name__ == "__main__":
    common.standalone(measure_large, report)
