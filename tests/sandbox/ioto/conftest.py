"""Fixtures for the Ioto sandbox's tests: a sandbox per test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from syncer.sandbox.ioto import IOTO_KEY, IotoConfig, IotoSandbox, create_app

Client = TestClient[web.Request, web.Application]

TOKEN = "sandbox-ioto-token"
ACCOUNT = "01SANDBOXACCOUNT000000000"
#: a dataset small enough to build in milliseconds
SMALL = {"devices": 60, "store_items": 150, "logs": 150}


@dataclass
class Reply:
    status: int
    content_type: str
    text: str

    def json(self) -> Any:
        return orjson.loads(self.text)


class Ioto:
    """One sandbox under test: its TestClient, its IotoSandbox, and request helpers."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sb: IotoSandbox = client.app[IOTO_KEY]

    async def call(
        self,
        path: str,
        body: Any = None,
        *,
        token: str | None = TOKEN,
        method: str = "POST",
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request; `token` goes bare in Authorization (None: no header)."""
        sent = {"Content-Type": "application/json"}
        if token is not None:
            sent["Authorization"] = token
        sent |= headers or {}
        data = None if body is None else orjson.dumps(body)
        response = await self.client.request(method, path, data=data, params=params, headers=sent)
        return Reply(response.status, response.content_type, await response.text())

    async def find(self, path: str, body: Any, **params: str) -> dict[str, Any]:
        """A find that must succeed; its JSON reply."""
        reply = await self.call(path, body, params=params or None)
        assert reply.status == 200, reply.text[:300]
        assert reply.content_type == "application/json"
        result: dict[str, Any] = reply.json()
        return result

    async def scan(
        self, path: str, body: dict[str, Any], limit: int, *, via: str = "params"
    ) -> list[dict[str, Any]]:
        """Every page of a find, following `next` (in `_params` or the query string) until it
        is absent; asserts a bounded number of pages."""
        pages: list[dict[str, Any]] = []
        cursor: Any = None
        for _ in range(10_000):
            if via == "params":
                params = {"limit": limit} | ({"next": cursor} if cursor else {})
                page = await self.find(path, body | {"_params": params})
            else:
                query = {"limit": str(limit)}
                if cursor:
                    query["next"] = orjson.dumps(cursor).decode()
                page = await self.find(path, body, **query)
            pages.append(page)
            cursor = page.get("next")
            if cursor is None:
                return pages
        raise AssertionError("scan did not end")


MakeIoto = Callable[..., Awaitable[Ioto]]


@pytest.fixture
def fake_clock(clock: Callable[[], float]) -> Callable[[], float]:
    """The FakeClock of tests/sandbox/conftest.py's `clock`, by the name the Ioto tests use."""
    return clock


@pytest.fixture
def ioto(start_client: Callable[[web.Application], Awaitable[Client]]) -> MakeIoto:
    """Start sandboxes on demand: `await ioto(clock=..., **knobs)`; closed after the test.

    Knobs override SMALL; pass `config=IotoConfig(...)` to use a config as is.
    """

    async def make(
        *,
        config: IotoConfig | None = None,
        clock: Callable[[], float] | None = None,
        **knobs: Any,
    ) -> Ioto:
        config = config or IotoConfig(**(SMALL | knobs))
        app = create_app(config) if clock is None else create_app(config, clock=clock)
        return Ioto(await start_client(app))

    return make
