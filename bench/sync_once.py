"""One syncer run in its own process, for the benchmarks: prints a JSON line of its results.

usage: python bench/sync_once.py DATABASE_URL BASE_URL RATE [MODE]
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

import orjson

from syncer import engine, log
from syncer.settings import Config


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
    started = time.perf_counter()
    [result] = await engine.sync(config, database_url, mode=mode)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        orjson.dumps(
            {
                "status": result.status,
                "error": result.error,
                "seconds": seconds,
                "stats": vars(result.stats),
                "peak_rss_mb": peak_kb / 1024,
            }
        ).decode()
    )


if __name__ == "__main__":
    asyncio.run(main())
