"""One syncer run in its own process, for the benchmarks: prints a JSON line of its results
(the caller samples the peak RSS of the process and its page-decoding workers from outside:
bench/rss.py).

usage: python bench/sync_once.py DATABASE_URL BASE_URL RATE [MODE]   (Exto master:LOCATION)
       python bench/sync_once.py DATABASE_URL --config CONFIG_JSON [--pacer aiolimiter]
                                                           (any one connection; --pacer: the
                                                           gate spaced by aiolimiter instead)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING

import orjson

# syncer is imported inside the functions: each decoding worker re-imports this script
# (multiprocessing's __mp_main__), and would otherwise import the engine and everything under
# it before its first page, at the run's expense (as the `syncer` console script avoids:
# syncer/cli/__init__.py)
if TYPE_CHECKING:
    from syncer.settings import Config


def _config() -> tuple[Config, str]:
    from syncer.settings import Config

    if sys.argv[2] == "--config":
        return Config.model_validate(orjson.loads(sys.argv[3])), "full"
    base_url, rate = sys.argv[2], float(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "full"
    os.environ.setdefault("SYNCER_BENCH_TOKEN", "sandbox-token")
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base_url,
        "token_env": "SYNCER_BENCH_TOKEN",
        "rate_limit": rate,
        "streams": ["master:LOCATION"],
    }
    return Config.model_validate({"connections": [connection]}), mode


def _use_pacer() -> None:
    """`--pacer aiolimiter`: every credential gate of this run is `AiolimiterGate`."""
    if "--pacer" not in sys.argv or sys.argv[sys.argv.index("--pacer") + 1] != "aiolimiter":
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from aiolimiter_gate import AiolimiterGate

    from syncer import http

    http.CredentialGate = AiolimiterGate  # type: ignore[misc]


async def main() -> None:
    from syncer import engine, log

    database_url = sys.argv[1]
    config, mode = _config()
    _use_pacer()
    log.configure(json=True, level="warning")
    started = time.perf_counter()
    results = await engine.sync(config, database_url, mode=mode)
    seconds = time.perf_counter() - started
    failed = [r for r in results if r.status not in ("succeeded", "quarantined")]
    stats = {
        field: sum(getattr(r.stats, field) for r in results)
        for field in ("pages", "records", "requests", "rate_limited", "retries", "updated")
    }
    print(
        orjson.dumps(
            {
                "status": failed[0].status if failed else "succeeded",
                "error": failed[0].error if failed else None,
                "seconds": seconds,
                "stats": stats,
            }
        ).decode()
    )


if __name__ == "__main__":
    asyncio.run(main())
