"""`make run`'s script: a port another server holds stops it, before anything is synced."""

from __future__ import annotations

import asyncio
import os
import socket
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
