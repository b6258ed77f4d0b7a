"""One syncer run in its own process, for the benchmarks: prints a JSON line of its results,
with the peak RSS of the process and its page-decoding workers together.

usage: python bench/sync_once.py DATABASE_URL BASE_URL RATE [MODE]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time

import orjson
import psutil

from syncer import engine, log
from syncer.settings import Config


def _sample_rss(peak: list[int], done: threading.Event) -> None:
    """Peak RSS of this process plus its decoding workers, sampled every 50 ms."""
    me = psutil.Process()
    while not done.wait(0.05):
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        peak[0] = max(peak[0], total)


async def main() -> None:
    database_url, base_url, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "full"
    os.environ.setdefault("SYNCER_BENCH_TOKEN", "sandbox-token")
    config = Config.model_validate(
        {
            "connections": [
                {
                    "name": "exto",
                    "vendor": "exto",
                    "base_url": base_url,
                    "token_env": "SYNCER_BENCH_TOKEN",
                    "rate_limit": rate,
                    "streams": ["master:LOCATION"],
                }
            ]
        }
    )
    log.configure(json=True, level="warning")
    peak = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(peak, done), daemon=True)
    sampler.start()
    started = time.perf_counter()
    [result] = await engine.sync(config, database_url, mode=mode)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    print(
        orjson.dumps(
            {
                "status": result.status,
                "error": result.error,
                "seconds": seconds,
                "stats": vars(result.stats),
                "peak_rss_mb": peak[0] / 2**20,
            }
        ).decode()
    )


if __name__ == "__main__":
    asyncio.run(main())
