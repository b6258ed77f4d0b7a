"""First load, unchanged and 1%-changed re-syncs: syncer against the raw client, side by side.

Three contestants read the same sandbox pages (Exto master:LOCATION, 1,000 per page, no rate
limit), each into its own database, one after another for every step:
- the raw client (bench/raw_client.py): fetch + COPY + merge, in its own process;
- `syncer sync` as a user runs it (process start, migrations check, view refresh, delete
  inference, summary), timed from outside like the raw client's process;
- syncer's engine in-process (bench/sync_once.py), timed inside, against the raw client's own
  inside time.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from common import (  # bench/common.py
    ROOT,
    TOKEN,
    fresh_database,
    post,
    scalar,
    settle,
    sync_once_any,
)
from rss import PeakRss  # bench/rss.py

CHANGE_PCT = 1.0


async def _process(*argv: str, env: dict[str, str] | None = None) -> tuple[float, bytes, float]:
    """Run argv; (wall seconds, stdout, peak RSS MB). Raises on a non-zero exit."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    with PeakRss(proc.pid) as rss:
        out, err = await proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {err.decode()[-2000:]}")
    return seconds, out, rss.peak_mb


async def raw_client(database_url: str, base: str) -> dict[str, Any]:
    wall, out, _ = await _process(
        sys.executable, str(ROOT / "bench" / "raw_client.py"), database_url, base
    )
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    result["wall"] = wall
    return result


def _config_file(folder: Path, base: str) -> Path:
    path = folder / "bench.toml"
    path.write_text(
        "[[connections]]\n"
        'name = "exto"\nvendor = "exto"\n'
        f'base_url = "{base}"\n'
        'token_env = "SYNCER_BENCH_TOKEN"\n'
        "rate_limit = 100000\n"
        'streams = ["master:LOCATION"]\n'
    )
    return path


async def syncer_command(database_url: str, config: Path) -> dict[str, Any]:
    syncer = str(Path(sys.executable).parent / "syncer")
    env = {"SYNCER_DATABASE_URL": database_url, "SYNCER_BENCH_TOKEN": TOKEN}
    wall, _, peak = await _process(syncer, "sync", "--config", str(config), env=env)
    return {"wall": wall, "peak_rss_mb": peak}


async def syncer_engine(database_url: str, base: str) -> dict[str, Any]:
    result = await sync_once_any(database_url, base, "100000")
    if result["status"] != "succeeded":
        raise RuntimeError(f"syncer run failed: {result['error']}")
    return result


async def _mirror_writes(database_url: str) -> int:
    await asyncio.sleep(1.0)  # the statistics collector
    sql = (
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint"
        " FROM pg_stat_user_tables WHERE schemaname = 'mirror'"
    )
    return int(await scalar(database_url, sql))


async def _step(
    name: str, dbs: dict[str, str], base: str, config: Path, records: int
) -> dict[str, Any]:
    """One step for all three contestants; WAL and rows written are syncer's (both kinds)."""
    out: dict[str, Any] = {"records": records}
    # each contestant starts with the server's dirty buffers written out: the one before it
    # wrote up to 300 MB, which a checkpoint during the next run would otherwise charge it for
    await scalar(dbs["raw"], "CHECKPOINT")
    raw = await raw_client(dbs["raw"], base)
    out["raw_wall_s"], out["raw_inside_s"], out["raw_written"] = (
        raw["wall"],
        raw["seconds"],
        raw["written"],
    )
    for kind in ("command", "engine"):
        url = dbs[kind]
        await scalar(url, "CHECKPOINT")
        before = await _mirror_writes(url)
        lsn = await scalar(url, "SELECT pg_current_wal_lsn()::text")
        if kind == "command":
            result = await syncer_command(url, config)
            out["command_wall_s"] = result["wall"]
            out["command_peak_rss_mb"] = result["peak_rss_mb"]
        else:
            result = await syncer_engine(url, base)
            out["engine_s"] = result["seconds"]
            out["engine_peak_rss_mb"] = result["peak_rss_mb"]
            out["engine_updated"] = result["stats"]["updated"]
        wal = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)"
        out[f"{kind}_wal_bytes"] = int(await scalar(url, wal, lsn))
        out[f"{kind}_rows_written"] = await _mirror_writes(url) - before
    out["command_ratio"] = out["raw_wall_s"] / out["command_wall_s"]
    out["engine_ratio"] = out["raw_inside_s"] / out["engine_s"]
    print(
        f"  {name}: raw {out['raw_wall_s']:.1f} s, syncer sync {out['command_wall_s']:.1f} s "
        f"({out['command_ratio']:.2f}x), engine {out['engine_s']:.1f} s vs raw inside "
        f"{out['raw_inside_s']:.1f} s ({out['engine_ratio']:.2f}x)",
        flush=True,
    )
    return out


async def measure_resync(admin: str, base: str, records: int) -> dict[str, Any]:
    """First load, unchanged and 1%-changed re-syncs of `records` sandbox records at `base`."""
    dbs = {
        "raw": await fresh_database(admin, "syncer_bench_raw"),
        "command": await fresh_database(admin, "syncer_bench_command"),
        "engine": await fresh_database(admin, "syncer_bench_engine"),
    }
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        config = _config_file(Path(folder), base)
        figures["first_load"] = await _step("first load", dbs, base, config, records)
        for url in dbs.values():
            await settle(url)
        figures["unchanged"] = await _step("unchanged re-sync", dbs, base, config, records)
        gen = await post(
            base.removesuffix("/data"),
            "/_sandbox/generation",
            {"change_pct": CHANGE_PCT, "delete_pct": 0.0, "insert_pct": 0.0},
        )
        figures["changed"] = await _step("1% changed re-sync", dbs, base, config, records)
        figures["changed"]["vendor_changed"] = len(gen.get("changed_ids", ()))
    return figures


TARGETS = {"first_load": 0.85, "unchanged": 1.5, "changed": 1.3}


def report(f: dict[str, Any]) -> None:
    print()
    print("syncer against the raw fetch + COPY + merge client (same pages, same run)")
    print(f"{'':28}{'raw':>9}{'syncer sync':>13}{'ratio':>7}{'engine':>9}{'ratio':>7}  target")
    for step, label in (
        ("first_load", "first load"),
        ("unchanged", "unchanged re-sync"),
        ("changed", "1% changed re-sync"),
    ):
        s = f[step]
        rate = s["records"] / s["raw_wall_s"]
        print(
            f"{label:<28}{rate:>9,.0f}{s['records'] / s['command_wall_s']:>13,.0f}"
            f"{s['command_ratio']:>7.2f}{s['records'] / s['engine_s']:>9,.0f}"
            f"{s['engine_ratio']:>7.2f}  >= {TARGETS[step]} (records/s)"
        )
    for step in ("unchanged", "changed"):
        s = f[step]
        print(
            f"  {step}: rows written {s['command_rows_written']:,} (command), "
            f"{s['engine_rows_written']:,} (engine); WAL {s['command_wal_bytes']:,} B "
            f"(command), {s['engine_wal_bytes']:,} B (engine)"
        )
    print(f"  vendor changed {f['changed'].get('vendor_changed', '?')} records")


async def _standalone(records: int) -> None:
    from common import bench_database, free_port, start_sandbox, wait_ready, warm

    port = free_port()
    sandbox = start_sandbox(records, port)
    base = f"http://127.0.0.1:{port}/data"
    try:
        await wait_ready(base)
        await warm(base)
        report(await measure_resync(bench_database(), base, records))
    finally:
        sandbox.terminate()
        sandbox.wait()


if __name__ == "__main__":
    from syncer import log

    log.configure(json=True, level="warning")
    asyncio.run(_standalone(int(sys.argv[1]) if len(sys.argv) > 1 else 300_000))
