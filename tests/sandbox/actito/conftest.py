"""Fixtures for the Actito sandbox's tests: a sandbox per test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from syncer.sandbox.actito import ActitoConfig, create_app

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

#: a dataset small enough to build in milliseconds; no per-minute slow-down unless a test asks
SMALL = {"profiles": 300, "custom_records": 200, "rate_limit": 0}


@pytest.fixture
def make_actito(start_client: Callable[[web.Application], Awaitable[Client]]) -> MakeClient:
    """Start Actito sandboxes on demand: `await make_actito(clock=..., **knobs)`.

    Knobs override SMALL; `config=ActitoConfig(...)` is used as is; `app=` serves a ready-made
    application (e.g. a root app the sandbox is mounted in). Everything is closed after the test.
    `clock` and `start_client` come from tests/sandbox/conftest.py.
    """

    async def make(
        *,
        config: ActitoConfig | None = None,
        clock: Callable[[], float] | None = None,
        app: web.Application | None = None,
        **knobs: Any,
    ) -> Client:
        if app is None:
            config = config or ActitoConfig(**(SMALL | knobs))
            app = create_app(config) if clock is None else create_app(config, clock=clock)
        return await start_client(app)

    return make
