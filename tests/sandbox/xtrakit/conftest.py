"""Fixtures for the XtraKit sandbox's tests: a sandbox per test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from syncer.sandbox.xtrakit import XtraKitConfig, create_app

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

#: a dataset small enough to build in milliseconds; no rate limit unless a test asks for one
SMALL = {"customers": 120, "items": 90, "categories": 12, "sales": 150, "rate_limit": 0}


@pytest.fixture
def make_xtrakit(start_client: Callable[[web.Application], Awaitable[Client]]) -> MakeClient:
    """Start XtraKit sandboxes on demand: `await make_xtrakit(clock=..., **knobs)`.

    Knobs override SMALL; pass `config=XtraKitConfig(...)` to use a config as is. Closed after
    the test. `clock` and `start_client` come from tests/sandbox/conftest.py.
    """

    async def make(
        *,
        config: XtraKitConfig | None = None,
        clock: Callable[[], float] | None = None,
        **knobs: Any,
    ) -> Client:
        config = config or XtraKitConfig(**(SMALL | knobs))
        return await start_client(
            create_app(config) if clock is None else create_app(config, clock=clock)
        )

    return make
