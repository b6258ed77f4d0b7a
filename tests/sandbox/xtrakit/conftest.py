"""Fixtures for the XtraKit sandbox's tests: a sandbox per test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from syncer.sandbox.xtrakit import XtraKitConfig, create_app

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

#: a dataset small enough to build in milliseconds; no rate limit unless a test asks for one
SMALL = {"customers": 120, "items": 90, "categories": 12, "sales": 150, "rate_limit_per_minute": 0}


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
async def make_xtrakit() -> AsyncIterator[MakeClient]:
    """Start XtraKit sandboxes on demand: `await make_xtrakit(clock=..., **knobs)`.

    Knobs override SMALL; pass `config=XtraKitConfig(...)` to use a config as is. Closed after
    the test.
    """
    clients: list[Client] = []

    async def make(
        *,
        config: XtraKitConfig | None = None,
        clock: Callable[[], float] | None = None,
        **knobs: Any,
    ) -> Client:
        config = config or XtraKitConfig(**(SMALL | knobs))
        app = create_app(config) if clock is None else create_app(config, clock=clock)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
