"""First load, unchanged and 1%-changed re-syncs: syncer against the raw client, side by side.

Three contestants read the same sandbox pages (Exto master:LOCATION, 1,000 per page, no rate
limit), each into its own database, one after another for every step:
- the raw client (bench/raw_client.py): fetch + COPY + merge, in its own process;
- `syncer sync` as a user runs it (process start, migrations check, view refresh, delete
  inference, summary), timed from outside like the raw client's process;
- syncer's engine in-process (bench/sync_once.py), timed inside, against the raw client's own
  inside time.

Each step runs ROUNDS rounds (3; SYNCER_BENCH_ROUNDS), the contestants' order rotated from one
round to the next; its figures are the medians. The first load's rounds each start from empty
databases, and the 1%-changed re-sync's rounds each from a new 1% change at the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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


#: rounds per step: on this 2-core machine one pure-Python loop's time varies by up to 20%
#: from one run to the next, idle, so a single run of each contestant can swing a ratio by a
#: third; each step's ratio is the median of its rounds' ratios, each round running the three
#: contestants back to back in a rotated order (SYNCER_BENCH_ROUNDS overrides)
_ROUNDS = os.environ.get("SYNCER_BENCH_ROUNDS", "3")
if not _ROUNDS.isdigit() or int(_ROUNDS) < 1:
    raise SystemExit(f"SYNCER_BENCH_ROUNDS must be a whole number of 1 or more, not {_ROUNDS!r}")
ROUNDS = int(_ROUNDS)
CONTESTANTS = ("raw", "command", "engine")


async def _contestant(kind: str, url: str, base: str, config: Path, out: dict[str, Any]) -> None:
    """One contestant's run into `out`; for syncer's two also its rows written and WAL."""
    # each contestant starts with the server's dirty buffers written out: the one before it
    # wrote up to 300 MB, which a checkpoint during the next run would otherwise charge it for
    await scalar(url, "CHECKPOINT")
    if kind == "raw":
        raw = await raw_client(url, base)
        out["raw_wall_s"], out["raw_inside_s"] = raw["wall"], raw["seconds"]
        out["raw_written"] = raw["written"]
        return
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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


async def _step(
    name: str,
    dbs: dict[str, str],
    base: str,
    config: Path,
    records: int,
    before_round: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """ROUNDS rounds of one step for all three contestants (`before_round` readies each round
    and says what it did); the step's figures are the medians, its rounds kept beside them."""
    rounds: list[dict[str, Any]] = []
    for number in range(ROUNDS):
        out: dict[str, Any] = {"records": records, **await before_round()}
        turn = number % len(CONTESTANTS)
        order = CONTESTANTS[turn:] + CONTESTANTS[:turn]
        for kind in order:
            await _contestant(kind, dbs[kind], base, config, out)
        out["order"] = list(order)
        out["command_ratio"] = out["raw_wall_s"] / out["command_wall_s"]
        out["engine_ratio"] = out["raw_inside_s"] / out["engine_s"]
        print(
            f"  {name}, round {number + 1} ({', '.join(order)}): raw {out['raw_wall_s']:.1f} s, "
            f"syncer sync {out['command_wall_s']:.1f} s ({out['command_ratio']:.2f}x), engine "
            f"{out['engine_s']:.1f} s vs raw inside {out['raw_inside_s']:.1f} s "
            f"({out['engine_ratio']:.2f}x)",
            flush=True,
        )
        rounds.append(out)
    step: dict[str, Any] = {"records": records, "rounds": rounds}
    for key in ("raw_wall_s", "raw_inside_s", "command_wall_s", "engine_s"):
        step[key] = _median([r[key] for r in rounds])
    for key in ("command_ratio", "engine_ratio"):
        step[key] = _median([r[key] for r in rounds])
        step[f"{key}_range"] = (min(r[key] for r in rounds), max(r[key] for r in rounds))
    for key in ("command_peak_rss_mb", "engine_peak_rss_mb"):
        step[key] = max(r[key] for r in rounds)
    for kind in ("command", "engine"):  # the worst round: what the targets must hold for
        step[f"{kind}_rows_written"] = max(r[f"{kind}_rows_written"] for r in rounds)
        step[f"{kind}_wal_bytes"] = max(r[f"{kind}_wal_bytes"] for r in rounds)
    return step


async def measure_resync(admin: str, base: str, records: int) -> dict[str, Any]:
    """First load, unchanged and 1%-changed re-syncs of `records` sandbox records at `base`."""
    names = {kind: f"syncer_bench_{kind}" for kind in CONTESTANTS}
    dbs: dict[str, str] = {}

    async def empty_mirrors() -> dict[str, Any]:
        for kind, name in names.items():
            dbs[kind] = await fresh_database(admin, name)
        return {}

    async def nothing() -> dict[str, Any]:
        return {}

    async def change() -> dict[str, Any]:
        control = base.removesuffix("/data")
        body = {"change_pct": CHANGE_PCT, "delete_pct": 0.0, "insert_pct": 0.0}
        gen = await post(control, "/_sandbox/generation", body)
        return {"vendor_changed": len(gen.get("changed_ids", ()))}

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        config = _config_file(Path(folder), base)
        figures["first_load"] = await _step("first load", dbs, base, config, records, empty_mirrors)
        for url in dbs.values():
            await settle(url)
        figures["unchanged"] = await _step("unchanged re-sync", dbs, base, config, records, nothing)
        figures["changed"] = await _step("1% changed re-sync", dbs, base, config, records, change)
    return figures


TARGETS = {"first_load": 0.85, "unchanged": 1.5, "changed": 1.3}


def report(f: dict[str, Any]) -> None:
    rounds = len(f["first_load"]["rounds"])
    print()
    print("syncer against the raw fetch + COPY + merge client (same pages, same run)")
    print(
        f"medians of {rounds} rounds, each running the three back to back in a rotated order; "
        "ratio: the median of the rounds' ratios (lowest - highest)"
    )
    print(
        f"{'':22}{'raw':>9}{'syncer sync':>13}{'ratio':>7}{'':>13}{'engine':>9}{'ratio':>7}"
        f"{'':>13}  target"
    )
    for step, label in (
        ("first_load", "first load"),
        ("unchanged", "unchanged re-sync"),
        ("changed", "1% changed re-sync"),
    ):
        s = f[step]
        rate = s["records"] / s["raw_wall_s"]
        low, high = s["command_ratio_range"]
        elow, ehigh = s["engine_ratio_range"]
        print(
            f"{label:<22}{rate:>9,.0f}{s['records'] / s['command_wall_s']:>13,.0f}"
            f"{s['command_ratio']:>7.2f}{f' ({low:.2f}-{high:.2f})':>13}"
            f"{s['records'] / s['engine_s']:>9,.0f}{s['engine_ratio']:>7.2f}"
            f"{f' ({elow:.2f}-{ehigh:.2f})':>13}  >= {TARGETS[step]} (records/s)"
        )
    for step in ("unchanged", "changed"):
        s = f[step]
        print(
            f"  {step}, the largest of its rounds: rows written {s['command_rows_written']:,} "
            f"(command), {s['engine_rows_written']:,} (engine); WAL "
            f"{s['command_wal_bytes']:,} B (command), {s['engine_wal_bytes']:,} B (engine)"
        )
    per_round = ", ".join(
        f"{r['vendor_changed']:,} changed: {r['command_rows_written']:,} and "
        f"{r['engine_rows_written']:,} written"
        for r in f["changed"]["rounds"]
    )
    print(f"  changed, each round (command and engine): {per_round}")


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
