"""Fixtures for every sandbox's tests: a fake clock, and sandboxes over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from syncer.sandbox.exto import ExtoConfig, create_app

Client = TestClient[web.Request, web.Application]
StartClient = Callable[[web.Application], Awaitable[Client]]
MakeClient = Callable[..., Awaitable[Client]]

#: a dataset small enough to build in milliseconds; no rate limit unless a test asks for one
SMALL = {"master_records": 200, "module_records": 50, "users": 30, "projects": 12, "rate_limit": 0}


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start_client() -> AsyncIterator[StartClient]:
    """Serve apps over real HTTP on 127.0.0.1: `await start_client(app)`; closed after the test.

    Every vendor's fixture starts its sandboxes with it (pytest hands the fixtures of this
    conftest to the vendor folders below, as it does `clock`).
    """
    clients: list[Client] = []

    async def start(app: web.Application) -> Client:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
def make_client(start_client: StartClient) -> MakeClient:
    """Start sandboxes on demand: `await make_client(clock=..., **knobs)`; closed after the test.

    Knobs override SMALL; pass `config=ExtoConfig(...)` to use a config as is.
    """

    async def make(
        *,
        config: ExtoConfig | None = None,
        clock: Callable[[], float] | None = None,
        **knobs: Any,
    ) -> Client:
        config = config or ExtoConfig(**(SMALL | knobs))
        return await start_client(
            create_app(config) if clock is None else create_app(config, clock=clock)
        )

    return make
