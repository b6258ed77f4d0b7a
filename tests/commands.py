"""Running the `syncer` command in tests: its environment, one run to its end, a run in the
background, and waiting for a run's checkpoint (to kill or interrupt it there)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import orjson

from tests.configs import exto_file
from tests.conftest import TOKEN, TOKEN_ENV


def write_config(
    tmp_path: Path,
    base_url: str,
    *,
    rate_limit: float = 1000,
    window: int = 8,
    streams: str = '["master:LOCATION"]',
    max_attempts: int = 10,
) -> Path:
    """The test's config file; `streams` as TOML (a list of names)."""
    names = tuple(orjson.loads(streams))
    return exto_file(
        tmp_path,
        base_url,
        streams=names,
        rate_limit=rate_limit,
        window=window,
        max_attempts=max_attempts,
    )


def env(db_url: str, token: str = TOKEN) -> dict[str, str]:
    return {**os.environ, "SYNCER_DATABASE_URL": db_url, TOKEN_ENV: token, "COLUMNS": "200"}


async def syncer(
    *args: str, environ: dict[str, str], stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run `python -m syncer *args` to its end (`stdin` fed to it, if given): exit code, stdout,
    stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncer",
        *args,
        env=environ,
        stdin=None if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=240)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def spawn(
    *args: str, environ: dict[str, str], output: bool = False
) -> asyncio.subprocess.Process:
    """`syncer ARGS` in the background; its stdout and stderr piped when `output`."""
    stream = asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncer", *args, env=environ, stdout=stream, stderr=stream
    )


async def until_checkpoint(db: asyncpg.Connection, pages: int, limit_s: float = 30) -> int:
    """Wait until some pass has checkpointed `pages` pages (or `limit_s` passed); the highest
    checkpoint seen."""
    checkpoint = 0
    for _ in range(int(limit_s / 0.02)):
        found = await db.fetchval("SELECT coalesce(max(checkpoint_page), 0) FROM syncer.passes")
        checkpoint = int(found or 0)
        if checkpoint >= pages:
            break
        await asyncio.sleep(0.02)
    return checkpoint
