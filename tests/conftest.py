"""Shared fixtures: a real Postgres (SYNCER_TEST_DATABASE_URL, or an embedded pgserver), one
migrated template database per session, a fresh database per test, and the sandbox over HTTP.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from syncer import migrate
from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, ExtoSandbox, create_app
from syncer.settings import Config

ROOT = Path(__file__).resolve().parents[1]
#: one template per test session, so sessions sharing a server (CI, parallel checkouts) never
#: drop each other's template
TEMPLATE = f"syncer_test_template_{os.getpid()}"
TOKEN = "sandbox-token"
TOKEN_ENV = "SYNCER_TEST_EXTO_TOKEN"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A server we may create databases on."""
    url = os.environ.get("SYNCER_TEST_DATABASE_URL")
    if url:
        return url
    from pgserver import postgres_server

    pgdata = ROOT / ".syncer" / "test-pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = postgres_server.get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> AsyncIterator[str]:
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await admin.close()
    await migrate.migrate(with_database(pg_admin_url, TEMPLATE))
    yield TEMPLATE
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    name = f"syncer_t_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    yield with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    yield conn
    await conn.close()


SandboxFactory = Callable[..., Awaitable[tuple[str, ExtoSandbox]]]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxFactory]:
    """Start sandboxes on 127.0.0.1: `base_url, sb = await sandbox(master_records=5000, ...)`."""
    servers: list[TestServer] = []

    async def start(**knobs: Any) -> tuple[str, ExtoSandbox]:
        knobs.setdefault("master_records", 3_000)
        knobs.setdefault("module_records", 300)
        knobs.setdefault("users", 40)
        knobs.setdefault("projects", 8)
        knobs.setdefault("rate_limit", 0)
        app = create_app(ExtoConfig(**knobs))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/data", app[EXTO_KEY]

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[int]]]:
    """Serve any aiohttp app on 127.0.0.1 for the test: `port = await serve(app)`."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> int:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        return server.port

    yield start
    for server in servers:
        await server.close()


def vendor_config(vendor: str, base_url: str, streams: tuple[str, ...], **conn: Any) -> Config:
    """A config with one connection of `vendor` against its sandbox, unthrottled by default."""
    connection = {
        "name": vendor,
        "vendor": vendor,
        "base_url": base_url,
        "token_env": TOKEN_ENV,
        "rate_limit": 1000,
        "streams": list(streams),
        **conn,
    }
    return Config.model_validate({"connections": [connection]})


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN_ENV


def exto_config(
    base_url: str, *, streams: tuple[str, ...] = ("master:LOCATION",), **conn: Any
) -> Config:
    """A config with one Exto connection against the sandbox, fast by default."""
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base_url,
        "token_env": TOKEN_ENV,
        "rate_limit": 1000,
        "streams": list(streams),
        **conn,
    }
    return Config.model_validate({"connections": [connection]})


@pytest.fixture
async def role_names(db: asyncpg.Connection) -> AsyncIterator[Callable[[str], str]]:
    """Unique role names for the test (roles are global to the server), dropped after it."""
    made: list[str] = []

    def name(prefix: str) -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for role in reversed(made):
        if await db.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await db.execute(f'DROP OWNED BY "{role}"')
            await db.execute(f'DROP ROLE "{role}"')
