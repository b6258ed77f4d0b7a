"""`syncer push` killed with SIGKILL mid-push, then run again: outbox states stay truthful and
nothing reaches the vendor twice, for upserts and for appends (which are not idempotent)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncer.sandbox.exto.state import ExtoSandbox
from tests import outbox
from tests.commands import env, syncer
from tests.configs import exto_file
from tests.conftest import SandboxFactory

pytestmark = pytest.mark.acceptance


def write_config(tmp_path: Path, base_url: str, user: str) -> Path:
    options = {"unique:LOCATION": "serial_number", "user_name": user}
    return exto_file(tmp_path, base_url, name="push.toml", options=options)


enqueue = outbox.enqueuer("exto")


def active_user(sb: ExtoSandbox) -> str:
    return str(next(u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1))


async def kill_when(
    config: Path, db_url: str, ready: Any, *, limit_s: float = 60
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncer",
        "push",
        "--config",
        str(config),
        env=env(db_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(int(limit_s / 0.01)):
        if await ready():
            break
        await asyncio.sleep(0.01)
    else:
        proc.kill()
        raise AssertionError("the push never reached the kill point")
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    return proc


async def test_upserts_killed_mid_push_end_accepted_once_each(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox(master_records=100, write_delay_ms=300)
    config = write_config(tmp_path, url, active_user(sb))
    serials = list(range(3_000_000, 3_006_000))
    await enqueue(db, "master:LOCATION", "upsert", [{"serial_number": s} for s in serials])

    async def some_accepted() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM syncer.outbox WHERE state='accepted'"))

    await kill_when(config, db_url, some_accepted)
    states = Counter(
        r["state"] for r in await db.fetch("SELECT state FROM syncer.outbox ORDER BY id")
    )
    assert set(states) <= {"accepted", "sending", "pending"} and states["accepted"] < 6_000
    held = Counter(r["customFields"].get("serial_number") for r in sb.records("master", "LOCATION"))
    accepted = await db.fetch(
        "SELECT (payload->>'serial_number')::int AS s FROM syncer.outbox WHERE state = 'accepted'"
    )
    assert all(held[r["s"]] == 1 for r in accepted)  # accepted means the vendor has it
    code, _, err = await syncer("push", "--config", str(config), environ=env(db_url))
    assert code == 0, err
    assert await db.fetchval("SELECT count(*) FROM syncer.outbox WHERE state <> 'accepted'") == 0
    held = Counter(r["customFields"].get("serial_number") for r in sb.records("master", "LOCATION"))
    assert all(held[s] == 1 for s in serials)


async def test_an_append_killed_in_flight_is_read_back_and_never_doubled(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Killed while the vendor holds the first append (applied, not yet answered): the rerun
    reads the parent's rows back, accepts what landed, and sends only the rest."""
    url, sb = await sandbox(module_records=20, write_delay_ms=800)
    config = write_config(tmp_path, url, active_user(sb))
    parents = [str(r["_id"]) for r in sb.records("module", "INSPECTION")[:3]]
    rows = [
        {"recordId": p, "fields": {"line": n, "parent": i}}
        for i, p in enumerate(parents)
        for n in range(10)
    ]
    await enqueue(db, "subtable:INSPECTION:T9", "append", rows)

    async def first_append_applied() -> bool:
        return any(w.operation == "subtable.append" for w in sb.ledger)

    await kill_when(config, db_url, first_append_applied)
    states = Counter(r["state"] for r in await db.fetch("SELECT state FROM syncer.outbox"))
    assert states["accepted"] == 0 and states["sending"] >= 10
    sb.config.write_delay_ms = 0
    code, _, err = await syncer("push", "--config", str(config), environ=env(db_url))
    assert code == 0, err
    assert await db.fetchval("SELECT count(*) FROM syncer.outbox WHERE state = 'accepted'") == 30
    for parent in parents:
        table = sb.data.subtables[("T9", "INSPECTION", parent)]
        assert sorted(r["customFields"]["line"] for r in table.rows) == list(range(10))
