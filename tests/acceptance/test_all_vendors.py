"""The four vendors from one sandbox process, through the CLI, as `make run` does it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from syncer.sandbox.actito import ActitoConfig
from syncer.sandbox.app import create_all
from syncer.sandbox.exto import ExtoConfig
from syncer.sandbox.ioto import IotoConfig
from syncer.sandbox.xtrakit import XtraKitConfig
from tests.commands import syncer

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {
    "SYNCER_EXTO_TOKEN": "sandbox-token",
    "SYNCER_ACTITO_KEY": "sandbox-actito-key",
    "SYNCER_XTRAKIT_KEY": "sandbox-xtrakit-key",
    "SYNCER_IOTO_TOKEN": "sandbox-ioto-token",
}


async def test_check_and_sync_all_four_vendors_from_the_sandbox_config(
    serve: Callable[[web.Application], Awaitable[int]],
    db_url: str,
    db: asyncpg.Connection,
) -> None:
    app = create_all(
        ExtoConfig(master_records=2_000, module_records=50, users=20, projects=4),
        ActitoConfig(profiles=300, custom_records=200),
        XtraKitConfig(customers=300, items=200, categories=10, sales=150),
        IotoConfig(devices=300, store_items=200, logs=100),
    )
    port = await serve(app)
    # the shipped config as it is: SYNCER_SANDBOX_PORT (what `make run PORT=...` exports)
    # moves every one of its URLs to this test's port
    config = ROOT / "config" / "sandbox.toml"
    environ = {
        **os.environ,
        **TOKENS,
        "SYNCER_DATABASE_URL": db_url,
        "COLUMNS": "200",
        "SYNCER_SANDBOX_PORT": str(port),
    }
    code, out, err = await syncer("check", "--config", str(config), environ=environ)
    assert code == 0, out + err
    assert out.count("token accepted") == 4
    code, out, err = await syncer("sync", "--config", str(config), environ=environ)
    assert code == 0, out + err
    statuses = await db.fetch("SELECT connection, status FROM syncer.runs")
    assert {r["connection"] for r in statuses} == {"exto", "actito", "xtrakit", "ioto"}
    assert {r["status"] for r in statuses} == {"succeeded"}
    assert len(statuses) == 14
