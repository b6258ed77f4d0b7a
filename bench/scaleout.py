"""Scale-out: 8 credentials of one stream each, run by 1, 2 and 4 `syncer worker` processes
(8 job slots in all: concurrency 8, 4 and 2), side by side in one run.

A sandbox in its own process holds RECORDS Exto master records and enforces RATE requests/s
per token (a sliding window) with LATENCY_MS of latency; eight connections read
`master:LOCATION` with eight tokens, pages of about PAGE records (PAGE + n for connection n:
the sandbox's log never shows tokens, and the page size tells the credentials apart).

For each worker count: a fresh database, eight queued jobs, the workers started together. It
prints records/s over the workers' wall time (start to the last job finished) and over the
requests' span, each credential's utilisation (requests the sandbox accepted per second, first
to last request, over RATE), the 429s, and the CPU seconds the workers, the sandbox and
Postgres used. Part of `make bench` (bench/run.py calls `measure_scaleout`); runnable alone:
`python bench/scaleout.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import aiohttp
import asyncpg
import common  # bench/common.py, beside this file
import orjson
import psutil

CREDENTIALS = 8
RECORDS = 10_000
PAGE = 100
RATE = 10
LATENCY_MS = 50
WORKERS = (1, 2, 4)
SLOTS = 8
STREAMS = ("master:LOCATION",)
#: the issue's fleet: 3 workers (4 job slots each) run 12 streams, four of each of 3 credentials
FLEET_STREAMS = ("master:LOCATION", "module:INSPECTION", "users", "groups")
FLEET_CREDENTIALS = 3
FLEET_WORKERS = 3


def _config(base: str, credentials: int = CREDENTIALS, streams: tuple[str, ...] = STREAMS) -> str:
    listed = ", ".join(f'"{stream}"' for stream in streams)
    return "".join(
        f"""
[[connections]]
name = "c{n}"
vendor = "exto"
base_url = "{base}"
token_env = "SCALEOUT_TOKEN_{n}"
rate_limit = {RATE}
page_size = {PAGE + n}
streams = [{listed}]
"""
        for n in range(credentials)
    )


def _env(database_url: str) -> dict[str, str]:
    tokens = {f"SCALEOUT_TOKEN_{n}": f"scaleout-{n}" for n in range(CREDENTIALS)}
    return {**os.environ, **tokens, "SYNCER_DATABASE_URL": database_url}


async def _syncer(*args: str, environ: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncer",
        "--log-level",
        "warning",
        *args,
        env=environ,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finished(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM syncer_jobs.procrastinate_jobs "
                "WHERE task_name = 'syncer:sync_stream' AND status IN ('succeeded', 'failed')"
            )
        )
    finally:
        await conn.close()


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def _postgres() -> list[psutil.Process]:
    found = psutil.process_iter(["name"])
    return [p for p in found if (p.info["name"] or "").startswith("postgres")]


async def measure(
    workers: int,
    database_url: str,
    base: str,
    sandbox_pid: int,
    *,
    credentials: int = CREDENTIALS,
    streams: tuple[str, ...] = STREAMS,
    slots: int = SLOTS,
) -> dict[str, Any]:
    """One worker count: queue every stream of `credentials` connections, run them with
    `slots` job slots over `workers` processes, read the sandbox's log."""
    import tempfile

    root = base.removesuffix("/data")
    environ = _env(database_url)
    jobs = credentials * len(streams)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(_config(base, credentials, streams))
        config = handle.name
    queued = await _syncer("sync", "--config", config, "--queue", environ=environ)
    _, err = await queued.communicate()
    if queued.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    async with aiohttp.ClientSession() as session:
        await session.post(root + "/_sandbox/reset-log", json={})
    sandbox = psutil.Process(sandbox_pid)
    postgres = _postgres()
    cpu_before = {"sandbox": _cpu([sandbox]), "postgres": _cpu(postgres)}
    started = time.perf_counter()
    per_worker = str(slots // workers)
    procs = [
        await _syncer("worker", "--config", config, "--concurrency", per_worker, environ=environ)
        for _ in range(workers)
    ]
    handles = [psutil.Process(p.pid) for p in procs]
    worker_cpu = 0.0
    while await _finished(database_url) < jobs:
        worker_cpu = max(worker_cpu, _cpu(handles))
        await asyncio.sleep(0.2)
    seconds = time.perf_counter() - started
    worker_cpu = max(worker_cpu, _cpu(handles))
    for proc in procs:
        proc.terminate()
    for proc in procs:
        await proc.wait()
    cpu = {
        "workers": worker_cpu,
        "sandbox": _cpu([sandbox]) - cpu_before["sandbox"],
        "postgres": _cpu(postgres) - cpu_before["postgres"],
    }
    os.unlink(config)
    async with aiohttp.ClientSession() as session, session.get(root + "/_sandbox/log") as resp:
        entries = orjson.loads(await resp.read())
    # the sandbox never shows tokens: each connection's page size (PAGE + n) tells them apart
    by_token: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if "/api/" in entry["path"]:
            by_token.setdefault(entry["query"].get("pageSize", ""), []).append(entry)
    every = sorted(e["at"] for v in by_token.values() for e in v)
    utilisation = []
    for token_entries in by_token.values():
        # while the credential has work: its first request to its last
        times = sorted(e["at"] for e in token_entries if e["status"] != 429)
        utilisation.append((len(times) - 1) / (times[-1] - times[0]) / RATE)
    records = await _mirrored(database_url)
    return {
        "workers": workers,
        "jobs": jobs,
        "seconds": seconds,
        "records": records,
        "records_per_s": records / seconds,
        # from the first request to the last: the workers' start-up left out
        "records_per_s_reading": records / (every[-1] - every[0]),
        "utilisation": utilisation,
        "utilisation_min": min(utilisation),
        "utilisation_mean": sum(utilisation) / len(utilisation),
        "rate_limited": sum(e["status"] == 429 for e in entries),
        "requests": sum(len(v) for v in by_token.values()),
        "cpu_seconds": cpu,
    }


async def _mirrored(database_url: str) -> int:
    """Rows in every mirror table (the records the run wrote)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT table_name FROM syncer.streams")
        total = 0
        for row in tables:
            total += await conn.fetchval(f'SELECT count(*) FROM mirror."{row["table_name"]}"')
        return int(total)
    finally:
        await conn.close()


async def measure_scaleout(admin_url: str) -> list[dict[str, Any]]:

    port = common.free_port()
    tokens = [arg for n in range(CREDENTIALS) for arg in ("--token", f"scaleout-{n}")]
    sandbox = common.start_sandbox(
        RECORDS,
        port,
        "--latency-ms",
        str(LATENCY_MS),
        *tokens,
        rate_limit=RATE,
        module_records=RECORDS // 2,
    )
    base = f"http://127.0.0.1:{port}/data"
    results = []
    try:
        await common.wait_ready(base)
        for workers in WORKERS:
            url = await common.fresh_database(admin_url, f"syncer_bench_scaleout_{workers}")
            results.append(await measure(workers, url, base, sandbox.pid))
        fleet_url = await common.fresh_database(admin_url, "syncer_bench_scaleout_fleet")
        results[0]["fleet"] = await measure(
            FLEET_WORKERS,
            fleet_url,
            base,
            sandbox.pid,
            credentials=FLEET_CREDENTIALS,
            streams=FLEET_STREAMS,
            slots=FLEET_WORKERS * 4,
        )
        results[0]["reservations"] = await measure_reservations(url)
        mixed_url = await common.fresh_database(admin_url, "syncer_bench_scaleout_mixed")
        results[0]["mixed"] = await measure_mixed(mixed_url, base)
    finally:
        sandbox.terminate()
        sandbox.wait()
    return results


async def measure_mixed(database_url: str, base: str) -> dict[str, Any]:
    """Two `syncer sync` processes and a `syncer push` of one credential at once: the
    requests the sandbox accepted per second, first to last, over RATE, and the 429s."""
    import tempfile

    root = base.removesuffix("/data")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO syncer.outbox (connection, endpoint, payload) "
            "VALUES ('c0', 'master:LOCATION', $1::jsonb)",
            [(orjson.dumps({"serial_number": 5_000_000 + i}).decode(),) for i in range(3_000)],
        )
    finally:
        await conn.close()
    text = _config(base).split("[[connections]]")[1]
    text = "[[connections]]" + text.replace(
        'streams = ["master:LOCATION"]',
        'streams = ["master:LOCATION", "module:INSPECTION"]\n'
        'options = { "unique:LOCATION" = "serial_number" }\npush_read_back = false',
    )
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(text)
        config = handle.name
    environ = _env(database_url)
    async with aiohttp.ClientSession() as session:
        await session.post(root + "/_sandbox/reset-log", json={})
    procs = [
        await _syncer("sync", "-c", config, "-s", "master:LOCATION", environ=environ),
        await _syncer("sync", "-c", config, "-s", "module:INSPECTION", environ=environ),
        await _syncer("push", "-c", config, environ=environ),
    ]
    ended = [await p.communicate() for p in procs]
    codes = [p.returncode for p in procs]
    for proc, (_, err) in zip(procs, ended, strict=True):
        if proc.returncode not in (0, 3):
            raise RuntimeError(err.decode()[-2000:])
    os.unlink(config)
    async with aiohttp.ClientSession() as session, session.get(root + "/_sandbox/log") as resp:
        entries = [e for e in orjson.loads(await resp.read()) if "/api/" in e["path"]]
    times = sorted(e["at"] for e in entries if e["status"] != 429)
    return {
        "codes": codes,
        "requests": len(entries),
        "pushes": sum(e["method"] == "POST" for e in entries),
        "rate_limited": sum(e["status"] == 429 for e in entries),
        "utilisation": (len(times) - 1) / (times[-1] - times[0]) / RATE,
    }


async def measure_reservations(database_url: str, count: int = 2_000) -> dict[str, float]:
    """What the shared budget costs Postgres: `count` reservations in a row from one process
    (round trip and server time together), and the WAL they wrote."""
    from syncer import budget

    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT pg_current_wal_lsn()")
        async with budget.store(database_url) as store:
            started = time.perf_counter()
            for _ in range(count):
                await store.reserve("bench", "bench", 1e9, 0.0, False, 1e9)
            seconds = time.perf_counter() - started
        wal = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", before)
    finally:
        await conn.close()
    return {
        "reservation_ms": seconds / count * 1000,
        "wal_bytes_per_reservation": float(wal) / count,
    }


def report(results: list[dict[str, Any]]) -> None:
    print(
        f"scale-out: {CREDENTIALS} credentials x {RECORDS:,} records, {RATE} req/s each "
        f"(ideal {CREDENTIALS * RATE * PAGE * 0.97:,.0f} records/s at headroom 0.97), pages of "
        f"{PAGE}, {LATENCY_MS} ms latency, {SLOTS} job slots"
    )
    one = results[0]["records_per_s"]
    cost, mixed, fleet = results[0]["reservations"], results[0]["mixed"], results[0]["fleet"]
    print(
        f"  {fleet['workers']} workers, {fleet['jobs']} streams of {FLEET_CREDENTIALS} "
        f"credentials ({', '.join(FLEET_STREAMS)}): utilisation of each credential while it has "
        f"work {', '.join(f'{u:.3f}' for u in fleet['utilisation'])}; {fleet['rate_limited']} "
        f"429s of {fleet['requests']} requests; {fleet['records']:,} records in "
        f"{fleet['seconds']:.1f} s"
    )
    print(
        f"  two CLI syncs and a push of one credential at once: utilisation "
        f"{mixed['utilisation']:.3f} of {RATE} req/s, {mixed['rate_limited']} 429s of "
        f"{mixed['requests']} requests ({mixed['pushes']} pushes), exit codes {mixed['codes']}"
    )
    print(
        f"  rate budget: {cost['reservation_ms']:.3f} ms per reservation (one round trip to "
        f"Postgres, in a row from one process), {cost['wal_bytes_per_reservation']:.0f} WAL "
        "bytes each (an unlogged table)"
    )
    for r in results:
        cpu = r["cpu_seconds"]
        print(
            f"  {r['workers']} worker(s)   {r['records_per_s']:>8,.0f} records/s "
            f"(x{r['records_per_s'] / one:.2f} of 1 worker), {r['seconds']:.1f} s "
            f"({r['records_per_s_reading']:,.0f} records/s first to last request); credential "
            f"utilisation min {r['utilisation_min']:.3f} mean {r['utilisation_mean']:.3f}; "
            f"{r['rate_limited']} 429s of {r['requests']}; CPU s: workers {cpu['workers']:.1f}, "
            f"sandbox {cpu['sandbox']:.1f}, postgres {cpu['postgres']:.1f}"
        )


if __name__ == "__main__":
    common.standalone(measure_scaleout, report)
