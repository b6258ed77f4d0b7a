"""What every bench program shares: a port, a fresh migrated database, a sandbox in its own
process, and one syncer run in its own process (bench/sync_once.py) with its peak RSS."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import orjson
from rss import PeakRss  # bench/rss.py, beside this file

from syncer import db, log, migrate

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-token"


def bench_database() -> str:
    """The server benches create their databases on: SYNCER_BENCH_DATABASE_URL, else syncer's
    own (the embedded Postgres when no URL is configured)."""
    return os.environ.get("SYNCER_BENCH_DATABASE_URL") or db.resolve_url()


def standalone(measure: Callable[[str], Awaitable[Any]], report: Callable[[Any], None]) -> None:
    """Run one bench program on its own: `report(await measure(bench_database()))`."""
    log.configure(json=True, level="warning")
    report(asyncio.run(measure(bench_database())))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def empty_database(admin_url: str, name: str) -> str:
    """Database `name` dropped and made again, empty; its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def fresh_database(admin_url: str, name: str) -> str:
    url = await empty_database(admin_url, name)
    await migrate.migrate(url)
    return url


async def scalar(database_url: str, sql: str, *args: Any) -> Any:
    """One value of one query, on a connection of its own."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def settle(database_url: str) -> None:
    """Autovacuum's work on a fresh load done now (VACUUM ANALYZE, CHECKPOINT), not inside the
    measured run that follows."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def start_sandbox(
    records: int, port: int, *extra: str, rate_limit: int = 0, module_records: int = 10
) -> subprocess.Popen[bytes]:
    """`syncer sandbox` in its own process (`extra`: more of its options)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncer",
            "--log-level",
            "warning",
            "sandbox",
            "--port",
            str(port),
            "--records",
            str(records),
            "--rate-limit",
            str(rate_limit),
            "--module-records",
            str(module_records),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(base + "/api/v1/health/readiness") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"sandbox at {base} did not start")


async def sync_once_any(database_url: str, *args: str) -> dict[str, Any]:
    """bench/sync_once.py in its own process; its JSON result line, whether the run succeeded
    or not (a crash of the process still raises)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "sync_once.py"),
        database_url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "SYNCER_BENCH_TOKEN": TOKEN},
    )
    with PeakRss(proc.pid) as rss:
        out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    result["peak_rss_mb"] = rss.peak_mb
    return result


async def warm(base: str) -> None:
    """Build the sandbox's sort order once, so its one-off cost is not counted against syncer."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        url = base + "/api/v1/master-record/LOCATION"
        async with session.get(url, params={"sort": "_id", "pageSize": "1"}) as resp:
            await resp.read()


async def post(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body to a sandbox control route; its JSON answer."""
    async with aiohttp.ClientSession() as session, session.post(base + path, json=body) as resp:
        result: dict[str, Any] = await resp.json()
        return result
