"""`make run`'s script: a port another server holds stops it, before anything is synced."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_make_run_stops_when_its_port_is_taken(db_url: str) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "scripts" / "run-sandbox-sync"),
            env={**os.environ, "PORT": str(port), "RECORDS": "100", "SYNCER_DATABASE_URL": db_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        holder.close()
    assert proc.returncode == 6, out + err
    assert f"port {port} is in use; try `make run PORT={port + 1}`" in err.decode()
    # nothing was synced from the other server: the sync never started
    assert b"sync summary" not in out


async def test_the_sandbox_prints_its_exports_once_it_listens_and_refuses_a_taken_port() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    holder.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "syncer", "sandbox", "--port", str(port), "--records", "100"),
        *("--other-records", "100"),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        lines = []
        while not any("syncer sync --config" in line for line in lines):
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert line, "".join(lines)
            lines.append(line.decode())
        said = "".join(lines)
        assert said.startswith("sandbox: ready")
        assert f"export SYNCER_SANDBOX_PORT={port} SYNCER_EXTO_TOKEN=sandbox-token" in said
        assert "SYNCER_IOTO_TOKEN=sandbox-ioto-token" in said
        # a second sandbox on the same port: a one-line error naming the way out, exit 6
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "syncer", "sandbox", "--port", str(port), "--records", "100"),
            *("--other-records", "100"),
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 6
        assert f"port {port} is in use" in err.decode() and "Traceback" not in err.decode()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
