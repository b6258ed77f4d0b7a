"""`make bench`: syncer against the raw fetch+COPY ceiling, measured side by side in one run.

Starts two sandboxes (300,000 and 100,000 Exto master records, no rate limit) and uses the
database named by SYNCER_BENCH_DATABASE_URL, else SYNCER_DATABASE_URL, else the embedded one.
Prints every figure and the ratios; writes bench/results.json.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
import dlt_peer_run  # bench/dlt_peer_run.py, beside this file
import history  # bench/history.py, beside this file
import limits  # bench/limits.py, beside this file
import orjson
import push  # bench/push.py, beside this file
import resync  # bench/resync.py, beside this file
import scaleout  # bench/scaleout.py, beside this file
import vendors  # bench/vendors.py, beside this file
from common import (  # bench/common.py, beside this file
    ROOT,
    TOKEN,
    bench_database,
    free_port,
    fresh_database,
    post,
    start_sandbox,
    sync_once_any,
    wait_ready,
)

from syncer import db, log
from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, create_app

PAGE = 1000
WINDOW = 8
BIG, SMALL = 300_000, 100_000


async def _sync_once(database_url: str, *args: str) -> dict[str, Any]:
    """bench/sync_once.py in its own process; its JSON result line (the run must succeed)."""
    result = await sync_once_any(database_url, *args)
    if result["status"] != "succeeded":
        raise RuntimeError(f"syncer run failed: {result['error']}")
    return result


async def run_syncer(database_url: str, base: str, rate: float = 100_000) -> dict[str, Any]:
    """One Exto master:LOCATION run at `rate` requests/s."""
    return await _sync_once(database_url, base, str(rate))


async def run_syncer_config(database_url: str, config: dict[str, Any]) -> dict[str, Any]:
    """One syncer run of `config` (one connection) in its own process."""
    return await _sync_once(database_url, "--config", orjson.dumps(config).decode())


async def ceiling(database_url: str, base: str) -> float:
    """The same pages fetched with aiohttp (same window) and COPYed into an unlogged table."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(
        "DROP TABLE IF EXISTS ceiling; CREATE UNLOGGED TABLE ceiling (pk text, data jsonb)"
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = base + "/api/v1/master-record/LOCATION"
    started = time.perf_counter()
    total = 0
    async with aiohttp.ClientSession(headers=headers) as session:

        async def fetch(page: int) -> list[dict[str, Any]]:
            params = {"page": str(page), "pageSize": str(PAGE), "sort": "_id"}
            async with session.get(url, params=params) as resp:
                rows: list[dict[str, Any]] = orjson.loads(await resp.read())["rows"]
                return rows

        page = 1
        tasks = {p: asyncio.ensure_future(fetch(p)) for p in range(1, WINDOW + 1)}
        while True:
            rows = await tasks.pop(page)
            if not rows:
                break
            await conn.copy_records_to_table(
                "ceiling", records=[(r["_id"], orjson.dumps(r).decode()) for r in rows]
            )
            total += len(rows)
            if len(rows) < PAGE:
                break
            tasks[page + WINDOW] = asyncio.ensure_future(fetch(page + WINDOW))
            page += 1
        for task in tasks.values():
            task.cancel()
    seconds = time.perf_counter() - started
    await conn.close()
    return total / seconds


async def staging(database_url: str) -> tuple[float, float]:
    """Seconds to stage 100 pages of 1,000 rows: COPY vs INSERT ... unnest arrays."""
    from syncer.records import prepare
    from syncer.sql import queries

    sb = create_app(ExtoConfig(master_records=1000, module_records=1, users=1, projects=1))[
        EXTO_KEY
    ]
    rows = prepare(
        sb.records("master", "LOCATION"), lambda r: r.get("_id"), "updatedAt", lenient=False
    ).rows
    conn = await asyncpg.connect(database_url)
    await conn.execute(queries["create_stage"])
    timings = []
    for method in ("copy", "unnest"):
        started = time.perf_counter()
        for _ in range(100):
            async with conn.transaction():
                if method == "copy":
                    await conn.copy_records_to_table(
                        "syncer_stage",
                        records=[(r.key, r.text, r.digest, r.updated_at) for r in rows],
                        columns=("pk", "data", "hash", "updated_at"),
                    )
                else:
                    await conn.execute(
                        queries["stage_unnest"],
                        [r.key for r in rows],
                        [r.text for r in rows],
                        [r.digest for r in rows],
                        [r.updated_at for r in rows],
                    )
        timings.append(time.perf_counter() - started)
    await conn.close()
    return timings[0], timings[1]


async def utilisation(database_url: str, base: str, page_size: int) -> tuple[float, int, int]:
    """A 20 req/s vendor (sliding window) with 100 ms latency: achieved requests/s over 20, and
    429s, with pages of `page_size` records. At 1,000 records a page, 20 req/s is 20,000
    records/s, close to this machine's first-load maximum, so the figure shows the CPU as much
    as the pacing; bench/limits.py measures the pacing itself, on small pages."""
    root = base.removesuffix("/data")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        # warm the sandbox's sort order so its one-off build is not counted against syncer
        url = base + "/api/v1/master-record/LOCATION"
        async with session.get(url, params={"sort": "_id", "pageSize": "1"}) as resp:
            await resp.read()
    await post(root, "/_sandbox/config", {"rate_limit": 20, "latency_ms": 100})
    await post(root, "/_sandbox/reset-log", {})
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base,
        "token_env": "SYNCER_BENCH_TOKEN",
        "rate_limit": 20,
        "page_size": page_size,
        "streams": ["master:LOCATION"],
    }
    await run_syncer_config(database_url, {"connections": [connection]})
    async with aiohttp.ClientSession() as session, session.get(root + "/_sandbox/log") as resp:
        log_entries: list[dict[str, Any]] = await resp.json()
    times = sorted(e["at"] for e in log_entries)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    return achieved / 20, sum(1 for e in log_entries if e["status"] == 429), len(times)


async def main() -> None:
    log.configure(json=True, level="warning")
    admin = bench_database()
    print(f"database: {db.display_url(admin)}", flush=True)
    big_port, small_port = free_port(), free_port()
    sandboxes = [start_sandbox(BIG, big_port), start_sandbox(SMALL, small_port)]
    big = f"http://127.0.0.1:{big_port}/data"
    small = f"http://127.0.0.1:{small_port}/data"
    figures: dict[str, Any] = {}
    try:
        await asyncio.gather(wait_ready(big), wait_ready(small))
        ceiling_db = await fresh_database(admin, "syncer_bench_ceiling")
        small_db = await fresh_database(admin, "syncer_bench_100k")

        print("ceiling: fetch + COPY into an unlogged table ...", flush=True)
        figures["ceiling_records_per_s"] = await ceiling(ceiling_db, big)
        print("first load and re-syncs, 300,000 records: raw client, syncer sync, engine ...")
        figures["resync"] = await resync.measure_resync(admin, big, BIG)
        steps = figures["resync"]
        figures["first_load_records_per_s"] = BIG / steps["first_load"]["engine_s"]
        figures["first_load_ratio_to_ceiling"] = (
            figures["first_load_records_per_s"] / figures["ceiling_records_per_s"]
        )
        figures["peak_rss_mb_300k"] = steps["first_load"]["engine_peak_rss_mb"]

        print("first load, 100,000 records (memory) ...", flush=True)
        small_run = await run_syncer(small_db, small)
        figures["peak_rss_mb_100k"] = small_run["peak_rss_mb"]

        print("staging: COPY vs unnest ...", flush=True)
        copy_s, unnest_s = await staging(small_db)
        figures["stage_copy_s_per_100_pages"] = copy_s
        figures["stage_unnest_s_per_100_pages"] = unnest_s

        print("limiter utilisation at 20 req/s, 100 ms latency, pages of 1,000 ...", flush=True)
        util_db_1000 = await fresh_database(admin, "syncer_bench_util_1000")
        figures["utilisation_1000"], _, _ = await utilisation(util_db_1000, big, 1000)
        print("dlt: first load, unchanged and 1% changed re-syncs, 300,000 records ...", flush=True)
        figures["dlt"] = await dlt_peer_run.measure_dlt(admin, big, BIG)
    finally:
        for proc in sandboxes:
            proc.terminate()
            proc.wait()
    print("pacing against each limiter kind, correct and at 75% ...", flush=True)
    figures["limits"] = await limits.measure_limits(admin)
    print("per-vendor limiter utilisation (20,000 records each) ...", flush=True)
    vendor_figures = await vendors.measure_vendors(admin, fresh_database)
    figures["vendors"] = vendor_figures
    print("scale-out: 8 credentials, 1, 2 and 4 workers ...", flush=True)
    figures["scaleout"] = await scaleout.measure_scaleout(admin)
    print("push: 10,000 outbox rows to Exto at 3 req/s ...", flush=True)
    figures["push"] = await push.measure_push(admin)
    print("history: 1% changed and unchanged re-syncs, with history on and off ...", flush=True)
    figures["history"] = await history.measure_history(admin)

    (ROOT / "bench" / "results.json").write_text(
        orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode()
    )
    f = figures
    print()
    resync.report(f["resync"])
    print(
        f"ceiling (fetch + COPY into an unlogged table, no merge) "
        f"{f['ceiling_records_per_s']:,.0f} records/s; engine first load "
        f"{f['first_load_ratio_to_ceiling']:.2f} of it"
    )
    print(
        f"peak RSS                   {f['peak_rss_mb_100k']:>10.0f} MB at 100,000; "
        f"{f['peak_rss_mb_300k']:.0f} MB at 300,000 "
        f"(ratio {f['peak_rss_mb_300k'] / f['peak_rss_mb_100k']:.2f})"
    )
    print(
        f"staging 100 pages          COPY {f['stage_copy_s_per_100_pages']:.3f} s, "
        f"unnest {f['stage_unnest_s_per_100_pages']:.3f} s "
        f"(COPY/unnest {f['stage_copy_s_per_100_pages'] / f['stage_unnest_s_per_100_pages']:.2f})"
    )
    limits.report(f["limits"])
    print(
        f"limiter utilisation, 1,000-record pages {f['utilisation_1000']:.3f} of 20 req/s "
        "(sliding; 20,000 records/s: CPU-bound on 2 cores with the sandbox and Postgres)"
    )
    vendors.report(vendor_figures)
    scaleout.report(f["scaleout"])
    push.report(f["push"])
    history.report(f["history"])
    dlt_peer_run.report(f)


if __name__ == "__main__":
    asyncio.run(main())
