"""Limiter utilisation per vendor: a 20,000-record sync against each sandbox held to the
vendor's documented limit, with time scaled down 60x where the limit is per minute.

For each vendor it prints achieved requests/s divided by the allowed rate (over the time from
the first to the last request the sandbox saw) and the limit responses (429) received. Pages
are small (20 or 50 records) so that a run spans many limit windows: syncer may fill a window
at once and then wait, so over a few windows the first-to-last rate reads above 1.0.
Part of `make bench` (bench/run.py calls `measure_vendors`); runnable alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from common import fresh_database, standalone  # bench/common.py, beside this file

from syncer.sandbox.actito import ACTITO_KEY, ActitoConfig
from syncer.sandbox.actito import create_app as actito_app
from syncer.sandbox.ioto import IOTO_KEY, IotoConfig
from syncer.sandbox.ioto import create_app as ioto_app
from syncer.sandbox.xtrakit import XTRAKIT_KEY, XtraKitConfig
from syncer.sandbox.xtrakit import create_app as xtrakit_app

RECORDS = 20_000
SCALE = 60.0  # per-minute limits run 60x faster: the sandbox's minute lasts 1 s


@dataclass(frozen=True)
class Case:
    vendor: str
    allowed_per_s: float  # the vendor's documented rate, in real seconds after scaling
    scale: float
    page_size: int
    build: Callable[[Callable[[], float]], tuple[web.Application, Any]]
    connection: dict[str, Any]


def _cases() -> list[Case]:
    def actito(clock: Callable[[], float]) -> tuple[web.Application, Any]:
        app = actito_app(ActitoConfig(profiles=RECORDS, custom_records=10), clock=clock)
        return app, app[ACTITO_KEY]

    def xtrakit(clock: Callable[[], float]) -> tuple[web.Application, Any]:
        cfg = XtraKitConfig(customers=RECORDS, items=10, categories=1, sales=10)
        app = xtrakit_app(cfg, clock=clock)
        return app, app[XTRAKIT_KEY]

    def ioto(clock: Callable[[], float]) -> tuple[web.Application, Any]:
        cfg = IotoConfig(devices=RECORDS, store_items=10, logs=10, rate_limit=10)
        app = ioto_app(cfg, clock=clock)
        return app, app[IOTO_KEY]

    return [
        Case(
            "actito",
            100 / 60 * SCALE,
            SCALE,
            20,
            actito,
            {
                "rate_limit": 100,
                "rate_period": 60 / SCALE,
                "max_in_flight": 4,
                "options": {"entity": "sandbox"},
                "streams": ["profiles:customers"],
                "token_env": "SYNCER_BENCH_ACTITO",
            },
        ),
        Case(
            "xtrakit",
            60 / 60 * SCALE,
            SCALE,
            20,
            xtrakit,
            {
                "rate_limit": 60,
                "rate_period": 60 / SCALE,
                "streams": ["customers"],
                "token_env": "SYNCER_BENCH_XTRAKIT",
            },
        ),
        Case(
            "ioto",
            10.0,
            1.0,
            50,
            ioto,
            {
                "rate_limit": 10,
                "options": {"account_id": "01SANDBOXACCOUNT000000000"},
                "streams": ["devices"],
                "token_env": "SYNCER_BENCH_IOTO",
            },
        ),
    ]


TOKENS = {
    "SYNCER_BENCH_ACTITO": "sandbox-actito-key",
    "SYNCER_BENCH_XTRAKIT": "sandbox-xtrakit-key",
    "SYNCER_BENCH_IOTO": "sandbox-ioto-token",
}
PREFIX = {"actito": "", "xtrakit": "/api/v1", "ioto": ""}


async def measure(case: Case, database_url: str) -> dict[str, Any]:
    """Serve the vendor's sandbox here (its clock sped up), run syncer in a child process."""
    started = time.monotonic()

    def clock() -> float:
        return started + (time.monotonic() - started) * case.scale

    app, sandbox = case.build(clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    connection = {
        "name": case.vendor,
        "vendor": case.vendor,
        "base_url": f"http://127.0.0.1:{port}{PREFIX[case.vendor]}",
        "page_size": case.page_size,
        **case.connection,
    }
    config = orjson.dumps({"connections": [connection]}).decode()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            os.path.join(os.path.dirname(__file__), "sync_once.py"),
            database_url,
            "--config",
            config,
            env={**os.environ, **TOKENS},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    finally:
        await runner.cleanup()
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    result = orjson.loads(out.splitlines()[-1])
    if result["status"] != "succeeded":
        raise RuntimeError(f"{case.vendor}: {result['error']}")
    data = [e for e in sandbox.request_log if "/_sandbox" not in e.path and "/auth/" not in e.path]
    times = sorted(e.at for e in data)
    real_span = (times[-1] - times[0]) / case.scale
    achieved = (len(times) - 1) / real_span
    return {
        "vendor": case.vendor,
        "requests": len(times),
        "records": result["stats"]["records"],
        "achieved_per_s": achieved,
        "allowed_per_s": case.allowed_per_s,
        "utilisation": achieved / case.allowed_per_s,
        "limit_responses": sum(1 for e in data if e.status == 429),
    }


async def measure_vendors(admin_url: str, fresh: Callable[[str, str], Any]) -> list[dict[str, Any]]:
    results = []
    for case in _cases():
        database_url = await fresh(admin_url, f"syncer_bench_{case.vendor}")
        results.append(await measure(case, database_url))
    return results


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"{r['vendor']:<8} utilisation {r['utilisation']:.3f} "
            f"({r['achieved_per_s']:.2f} of {r['allowed_per_s']:.2f} req/s, time scaled), "
            f"{r['requests']} requests, {r['records']:,} records, "
            f"{r['limit_responses']} limit responses"
        )


if __name__ == "__main__":
    standalone(lambda admin: measure_vendors(admin, fresh_database), report)
