"""Fixtures for the Ioto sandbox's tests: a sandbox per test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from syncer.sandbox.ioto import IOTO_KEY, IotoConfig, IotoSandbox, create_app

TOKEN = "sandbox-ioto-token"
ACCOUNT = "01SANDBOXACCOUNT000000000"
#: a dataset small enough to build in milliseconds
SMALL = {"devices": 60, "store_items": 150, "logs": 150}


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Reply:
    status: int
    content_type: str
    text: str

    def json(self) -> Any:
        return orjson.loads(self.text)


class Ioto:
    """One sandbox under test: its TestClient, its IotoSandbox, and request helpers."""

    def __init__(self, client: TestClient[web.Request, web.Application]) -> None:
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
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def ioto() -> AsyncIterator[MakeIoto]:
    """Start sandboxes on demand: `await ioto(clock=..., **knobs)`; closed after the test.

    Knobs override SMALL; pass `config=IotoConfig(...)` to use a config as is.
    """
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(
        *,
        config: IotoConfig | None = None,
        clock: Callable[[], float] | None = None,
        **knobs: Any,
    ) -> Ioto:
        config = config or IotoConfig(**(SMALL | knobs))
        app = create_app(config) if clock is None else create_app(config, clock=clock)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return Ioto(client)

    yield make
    for client in clients:
        await client.close()
