"""syncer against dlt: dlt's `rest_api` source (bench/dlt_peer.py, in its own venv .venv-dlt)
reading the same sandbox pages as syncer into Postgres, merged on `_id`: a first load, an
unchanged re-sync and a 1%-changed re-sync, each timed from outside its process (dlt's start
included), with the peak RSS of the process and its children (bench/rss.py).

Part of `make bench`: bench/run.py calls `measure_dlt` on its 300,000-record sandbox after
syncer's runs there, and `report` with its figures. Runnable alone, with syncer's same three
runs on the same sandbox for the ratios:

    python bench/dlt_peer_run.py [RECORDS]      # 300,000 unless given; make .venv-dlt/.installed
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from typing import Any

import aiohttp
import asyncpg
import common  # bench/common.py, beside this file
import orjson
from rss import PeakRss  # bench/rss.py, beside this file

PYTHON = common.ROOT / ".venv-dlt" / "bin" / "python"
SCRIPT = common.ROOT / "bench" / "dlt_peer.py"
DATABASE = "syncer_bench_dlt"
#: dlt's tables (its staging dataset, `exto_staging`, is not counted as written)
SCHEMA = "exto"
#: syncer's figures (bench/run.py's names) beside dlt's, for the ratios
SYNCER_KEYS = {
    "first_load": "first_load_records_per_s",
    "unchanged": "unchanged_records_per_s",
    "changed": "changed_records_per_s",
}


async def _post(root: str, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session, session.post(root + path, json=body) as resp:
        resp.raise_for_status()


async def _plain_database(admin: str) -> str:
    """A fresh database for dlt: no syncer migrations, dlt makes its own schemas."""
    return await common.empty_database(admin, DATABASE)


async def _rows_written(database_url: str) -> int:
    """Rows inserted, updated and deleted so far in dlt's tables (the statistics collector's
    view; the caller waits a moment after a run for its backends to report)."""
    conn = await asyncpg.connect(database_url)
    try:
        value = await conn.fetchval(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
            "FROM pg_catalog.pg_stat_user_tables WHERE schemaname = $1",
            SCHEMA,
        )
        return int(value)
    finally:
        await conn.close()


async def _run(base: str, database_url: str, pipelines_dir: str) -> dict[str, Any]:
    """One dlt run in its own process: wall-clock seconds from its start to its exit, its peak
    RSS (children included: dlt's normalize workers), the rows it loaded per table."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(PYTHON),
        str(SCRIPT),
        base,
        database_url,
        pipelines_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tempfile.gettempdir(),  # no .dlt/ of anyone's is read
        env={**os.environ, "DLT_PEER_TOKEN": common.TOKEN},
    )
    with PeakRss(proc.pid) as rss:
        out, err = await proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"dlt run failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return {
        "seconds": seconds,
        "run_seconds": result["seconds"],
        "rows": result["rows"],
        "peak_rss_mb": rss.peak_mb,
    }


async def _timed(
    name: str, base: str, database_url: str, pipelines_dir: str, records: int
) -> dict[str, Any]:
    before = await _rows_written(database_url)
    run = await _run(base, database_url, pipelines_dir)
    await asyncio.sleep(1.5)
    return {
        f"{name}_records_per_s": records / run["seconds"],
        f"{name}_seconds": run["seconds"],
        f"{name}_run_seconds": run["run_seconds"],
        f"{name}_rows_written": await _rows_written(database_url) - before,
        f"{name}_rows_loaded": run["rows"],
        f"{name}_peak_rss_mb": run["peak_rss_mb"],
    }


async def measure_dlt(admin: str, base: str, records: int) -> dict[str, Any]:
    """dlt's first load, unchanged re-sync and 1%-changed re-sync of the sandbox at `base`
    (`records` Exto master records) into a fresh database on `admin`'s server."""
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} is missing: `make .venv-dlt/.installed` makes it")
    root = base.removesuffix("/data")
    # whatever an earlier bench set (bench/run.py's utilisation: 20 req/s, 100 ms), unlimited
    await _post(root, "/_sandbox/config", {"rate_limit": 0, "latency_ms": 0})
    await common.warm(base)
    database_url = await _plain_database(admin)
    figures: dict[str, Any] = {"records": records}
    with tempfile.TemporaryDirectory(prefix="syncer-bench-dlt-") as pipelines_dir:
        figures |= await _timed("first_load", base, database_url, pipelines_dir, records)
        await common.settle(database_url)
        figures |= await _timed("unchanged", base, database_url, pipelines_dir, records)
        body = {"change_pct": 1.0, "delete_pct": 0.0, "insert_pct": 0.0}
        await _post(root, "/_sandbox/generation", body)
        figures |= await _timed("changed", base, database_url, pipelines_dir, records)
    return figures


def report(figures: dict[str, Any]) -> None:
    """dlt's records/s beside syncer's (`figures`: bench/run.py's, dlt's under "dlt")."""
    d = figures["dlt"]
    # `syncer sync` in its own process, timed from outside like dlt's (bench/resync.py), when
    # make bench measured it; else syncer's engine (the standalone run)
    resync = figures.get("resync")
    for name, label in (
        ("first_load", "first load"),
        ("unchanged", "unchanged re-sync"),
        ("changed", "1% changed re-sync"),
    ):
        if resync:
            mine = resync[name]["records"] / resync[name]["command_wall_s"]
        else:
            mine = figures.get(SYNCER_KEYS[name])
        ratio = f", syncer / dlt {mine / d[f'{name}_records_per_s']:.2f}" if mine else ""
        print(
            f"dlt {label:<19} {d[f'{name}_records_per_s']:>10,.0f} records/s{ratio}; "
            f"{d[f'{name}_rows_written']:,} rows written, peak RSS "
            f"{d[f'{name}_peak_rss_mb']:.0f} MB"
        )
    if "peak_rss_mb_300k" in figures:
        print(
            f"  peak RSS, first load of {d['records']:,}: syncer {figures['peak_rss_mb_300k']:.0f}"
            f" MB, dlt {d['first_load_peak_rss_mb']:.0f} MB"
        )


async def _syncer(admin: str, base: str, records: int) -> dict[str, Any]:
    """syncer's same three runs on the same sandbox, as bench/run.py names its figures."""
    database_url = await common.fresh_database(admin, "syncer_bench_dlt_syncer")
    figures: dict[str, Any] = {}
    for name, key in SYNCER_KEYS.items():
        if name == "changed":
            body = {"change_pct": 1.0, "delete_pct": 0.0, "insert_pct": 0.0}
            await _post(base.removesuffix("/data"), "/_sandbox/generation", body)
        result = await common.sync_once_any(database_url, base, "100000")
        if result["status"] != "succeeded":
            raise RuntimeError(f"syncer run failed: {result['error']}")
        figures[key] = records / result["seconds"]
        if name == "first_load":
            figures["peak_rss_mb_300k"] = result["peak_rss_mb"]
            await common.settle(database_url)
    return figures


async def standalone(admin: str, records: int) -> dict[str, Any]:
    port = common.free_port()
    sandbox = common.start_sandbox(records, port)
    base = f"http://127.0.0.1:{port}/data"
    try:
        await common.wait_ready(base)
        await common.warm(base)
        print(f"syncer: first load, unchanged and 1% changed re-syncs of {records:,} ...")
        figures = await _syncer(admin, base, records)
        print("dlt: the same ...", flush=True)
        figures["dlt"] = await measure_dlt(admin, base, records)
    finally:
        sandbox.terminate()
        sandbox.wait()
    print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
    return figures


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    common.standalone(lambda admin: standalone(admin, count), report)
