"""One rate budget per credential across processes (syncer/budget.py): CLI syncs, a push and
workers of one Exto token, at once, against a sandbox that enforces the documented limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from syncer.sandbox import actito
from syncer.sandbox.actito import ActitoConfig
from syncer.sandbox.exto.state import ExtoSandbox
from tests.acceptance.test_push_crash import active_user, enqueue
from tests.acceptance.test_workers import start_worker, stop, wait_jobs
from tests.commands import env, syncer
from tests.configs import exto_file
from tests.conftest import SandboxFactory
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.acceptance

RATE = 10


def write_config(tmp_path: Path, base_url: str, user: str, *, rate_limit: float = RATE) -> Path:
    return exto_file(
        tmp_path,
        base_url,
        name="budget.toml",
        streams=("master:LOCATION", "module:INSPECTION", "users"),
        options={"unique:LOCATION": "serial_number", "user_name": user},
        rate_limit=rate_limit,
        page_size=25,
    )


def data_requests(sb: ExtoSandbox) -> list[int]:
    return [e.status for e in sb.request_log if "/_sandbox" not in e.path]


async def test_two_syncs_and_a_push_at_once_draw_no_429(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Two `syncer sync` processes and a `syncer push` of one token at once: every request of
    the three shares one budget, and the vendor (a sliding window of the documented rate)
    refuses none."""
    url, sb = await sandbox(master_records=500, module_records=250, rate_limit=RATE)
    config = write_config(tmp_path, url, active_user(sb))
    await enqueue(
        db, "master:LOCATION", "upsert", [{"serial_number": 7_000_000 + n} for n in range(40)]
    )
    environ = env(db_url)
    code, _, err = await syncer("migrate", environ=environ)
    assert code == 0, err
    sb.reset_log()
    runs = await asyncio.gather(
        syncer("sync", "--config", str(config), "-s", "master:LOCATION", environ=environ),
        syncer("sync", "--config", str(config), "-s", "module:INSPECTION", environ=environ),
        syncer("push", "--config", str(config), environ=environ),
    )
    assert [code for code, _, _ in runs] == [0, 0, 0], [err for _, _, err in runs]
    statuses = data_requests(sb)
    assert len(statuses) > 30
    assert statuses.count(429) == 0
    budget = await db.fetchrow("SELECT label, requests, limited FROM syncer.rate_budgets")
    assert budget["label"] == "exto connection 'exto'" and budget["limited"] == 0
    # every request of the three processes went through the budget
    assert budget["requests"] >= len(statuses) - 3


async def test_workers_and_a_cli_sync_share_the_budget(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Two workers running queued streams and a CLI sync, one token: no 429."""
    url, sb = await sandbox(master_records=500, module_records=250, rate_limit=RATE)
    config = write_config(tmp_path, url, active_user(sb))
    environ = env(db_url)
    code, _, err = await syncer(
        "sync",
        "--config",
        str(config),
        "--queue",
        "-s",
        "module:INSPECTION",
        "-s",
        "users",
        environ=environ,
    )
    assert code == 0, err
    sb.reset_log()
    workers = [await start_worker(config, environ) for _ in range(2)]
    try:
        code, _, err = await syncer(
            "sync", "--config", str(config), "-s", "master:LOCATION", environ=environ
        )
        assert code == 0, err
        assert await wait_jobs(db, 2) == ["succeeded", "succeeded"]
    finally:
        for worker in workers:
            await stop(worker)
    assert data_requests(sb).count(429) == 0


async def test_a_429_in_one_process_pauses_the_credential_everywhere(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A rate_limit set above what the vendor allows: the 429s of one process lower the shared
    rate, which the other process paces at too; both finish."""
    url, sb = await sandbox(master_records=500, module_records=250, rate_limit=RATE)
    config = write_config(tmp_path, url, active_user(sb), rate_limit=RATE * 2)
    environ = env(db_url)
    runs = await asyncio.gather(
        syncer("sync", "--config", str(config), "-s", "master:LOCATION", environ=environ),
        syncer("sync", "--config", str(config), "-s", "module:INSPECTION", environ=environ),
    )
    assert [code for code, _, _ in runs] == [0, 0], [err for _, _, err in runs]
    budget = await db.fetchrow("SELECT rate, limited FROM syncer.rate_budgets")
    assert budget["limited"] >= 1
    assert budget["rate"] < RATE * 2 * 0.97


async def test_three_workers_twelve_streams_three_credentials_draw_no_429(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Three worker processes run 12 queued streams of three credentials (four each) at once:
    each credential's budget holds across the workers, and the vendor refuses nothing."""
    tokens = ("token-a", "token-b", "token-c")
    url, sb = await sandbox(
        master_records=400, module_records=200, users=60, rate_limit=RATE, tokens=tokens
    )
    config = tmp_path / "three.toml"
    config.write_text(
        "".join(
            f"""
[[connections]]
name = "c{n}"
vendor = "exto"
base_url = "{url}"
token_env = "TOKEN_{n}"
rate_limit = {RATE}
page_size = 25
streams = ["master:LOCATION", "module:INSPECTION", "users", "groups"]
"""
            for n in range(3)
        )
    )
    environ = {**env(db_url), **{f"TOKEN_{n}": t for n, t in enumerate(tokens)}}
    code, out, err = await syncer("sync", "--config", str(config), "--queue", environ=environ)
    assert code == 0 and out.count("queued as job") == 12, err
    sb.reset_log()
    workers = [await start_worker(config, environ, "--concurrency", "4") for _ in range(3)]
    try:
        assert await wait_jobs(db, 12, seconds=240) == ["succeeded"] * 12
    finally:
        for worker in workers:
            await stop(worker)
    by_token: dict[str | None, list[int]] = {}
    for entry in sb.request_log:
        if "/_sandbox" not in entry.path:
            by_token.setdefault(entry.token, []).append(entry.status)
    assert set(by_token) == set(tokens)
    assert {t: s.count(429) for t, s in by_token.items()} == dict.fromkeys(tokens, 0)
    assert all(len(s) > 30 for s in by_token.values())
    for n in range(3):
        await assert_mirror_equals(
            db, f"c{n}__master_location", sb.records("master", "LOCATION"), "master:LOCATION"
        )


async def test_a_concurrency_cap_holds_across_processes(
    serve: Callable[[web.Application], Awaitable[int]],
    db_url: str,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """`max_in_flight` holds for the credential, not per process: two processes with
    `max_in_flight = 1` (Actito answers 429 beyond its licence's cap) share the one slot, so
    never more than one request is in flight, and none is refused."""
    app = actito.create_app(
        ActitoConfig(profiles=600, custom_records=600, latency_ms=150, rate_limit=100_000)
    )
    port = await serve(app)
    sb = app[actito.ACTITO_KEY]
    config = tmp_path / "actito.toml"
    config.write_text(
        f"""
[[connections]]
name = "actito"
vendor = "actito"
base_url = "http://127.0.0.1:{port}"
token_env = "ACTITO_KEY"
rate_limit = 100000
max_in_flight = 1
window = 4
page_size = 20
options = {{ entity = "sandbox" }}
streams = ["profiles:customers", "custom:orders"]
"""
    )
    environ = {**env(db_url), "ACTITO_KEY": "sandbox-actito-key"}
    code, _, err = await syncer("migrate", environ=environ)
    assert code == 0, err
    sb.reset_log()
    runs = await asyncio.gather(
        syncer("sync", "-c", str(config), "-s", "profiles:customers", environ=environ),
        syncer("sync", "-c", str(config), "-s", "custom:orders", environ=environ),
    )
    assert [code for code, _, _ in runs] == [0, 0], [err for _, _, err in runs]
    assert [e.status for e in sb.request_log].count(429) == 0
    assert sb.max_concurrent == 1
