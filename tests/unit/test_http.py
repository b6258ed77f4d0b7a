"""Error mapping, Retry-After parsing and the credential gate, without a network or sleeps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer

from syncer import errors
from syncer.connectors import actito, exto
from syncer.http import CredentialGate, VendorClient, parse_retry_after
from syncer.models import Request, StreamStats
from syncer.settings import ConnectionConfig

TOKEN = "secret-token-abcdef"


def connection(base: str) -> ConnectionConfig:
    values: dict[str, object] = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base,
        "token_env": "T",
        "rate_limit": 1000,
        "streams": ["users"],
    }
    return ConnectionConfig.model_validate(values)


async def scripted(*responses: tuple[int, bytes]) -> TestServer:
    """A vendor that answers each request with the next scripted (status, body)."""
    queue = list(responses)

    async def handler(request: web.Request) -> web.Response:
        status, body = queue.pop(0)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def error_body(status: int, detail: str) -> dict[str, object]:
    return {
        "code": status,
        "timestamp": "x",
        "path": "/p",
        "error": {"summary": "S", "detail": [detail]},
    }


@pytest.fixture(autouse=True)
def no_backoff() -> object:
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def fetch(*responses: tuple[int, object]) -> tuple[object, StreamStats]:
    server = await scripted(*((s, orjson.dumps(p)) for s, p in responses))
    stats = StreamStats()
    try:
        base = f"http://127.0.0.1:{server.port}/data"
        async with VendorClient(connection(base), exto.connector, TOKEN) as client:
            body, _ = await client.send(
                Request("/api/v1/user/user-access", {"page": "1"}),
                what="stream users page 1",
                stats=stats,
            )
    finally:
        await server.close()
    return body, stats


async def test_401_is_an_auth_error_naming_the_page_and_not_the_token() -> None:
    with pytest.raises(errors.AuthError) as caught:
        await fetch((401, error_body(401, "Invalid authentication token.")))
    assert "page 1" in caught.value.message and TOKEN not in caught.value.message
    assert "Invalid authentication token." in caught.value.message


async def test_400_is_fatal_and_not_retried() -> None:
    with pytest.raises(errors.FatalVendorError) as caught:
        await fetch((400, error_body(400, "Page size must be between 1 and 1000")), (200, []))
    assert "Page size must be between 1 and 1000" in caught.value.message


async def test_503_is_retried_then_succeeds() -> None:
    body, stats = await fetch((503, error_body(503, "down")), (200, {"rows": []}))
    assert body == {"rows": []} and stats.retries == 1 and stats.requests == 2


async def test_429_is_counted_and_retried() -> None:
    _, stats = await fetch((429, error_body(429, "slow down")), (200, {"rows": []}))
    assert stats.rate_limited == 1 and stats.retries == 1


async def test_invalid_json_body_is_retried() -> None:
    server = await scripted((200, b'{"rows": ['), (200, b'{"rows": [1]}'))
    base = f"http://127.0.0.1:{server.port}/data"
    try:
        async with VendorClient(connection(base), exto.connector, TOKEN) as client:
            body, _ = await client.send(Request("/api/v1/user/user-access"), what="p")
    finally:
        await server.close()
    assert body == {"rows": [1]}


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_gate_pause_holds_every_request_for_retry_after() -> None:
    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep)
    assert gate.pause(2.5) == 2.5
    gate.sent(await gate.acquire())
    assert t.now >= 102.5


async def test_gate_backs_off_exponentially_without_retry_after() -> None:
    import random

    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep, rng=random.Random(1))
    waits = [gate.pause(None) for _ in range(7)]
    assert 1 <= waits[0] < 1.5 and 2 <= waits[1] < 2.5 and 4 <= waits[2] < 4.5
    assert waits[-1] <= 30.5
    gate.succeeded()
    assert gate.pause(None) < 1.5


async def test_gate_never_admits_more_than_the_limit_in_any_second() -> None:
    """20 req/s: 200 acquisitions, and no one-second window holds more than 20 of them."""
    t = FakeTime()
    gate = CredentialGate(20, 0.97, clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(200):
        gate.sent(await gate.acquire())
        sent.append(t.now)
    assert max(sum(1 for x in sent if s <= x < s + 1.0) for s in sent) == 20
    rate = len(sent) / (sent[-1] - sent[0] + gate.period)  # whole windows
    assert 0.95 * 20 <= rate <= 20


async def test_gate_lets_a_late_request_catch_up() -> None:
    """A caller that arrives late is admitted at once while the window has room."""
    t = FakeTime()
    gate = CredentialGate(3, 1.0, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        gate.sent(await gate.acquire())
    t.now += 5.0  # the loop was busy elsewhere
    before = t.now
    for _ in range(3):
        gate.sent(await gate.acquire())
    assert t.now == before and t.slept == []


async def test_gate_counts_a_request_from_when_it_was_sent() -> None:
    """A request admitted at once but sent late holds its slot until one period after sending."""
    t = FakeTime()
    gate = CredentialGate(2, 1.0, clock=t.clock, sleep=t.sleep)
    first = await gate.acquire()
    second = await gate.acquire()
    gate.sent(first)
    t.now += 0.5  # the second waited for a connection
    gate.sent(second)
    gate.sent(await gate.acquire())
    assert t.now == 101.0  # one period after the first was sent
    gate.sent(await gate.acquire())
    assert t.now == 101.5  # one period after the second was sent


async def test_gate_for_rates_below_one_per_second() -> None:
    t = FakeTime()
    gate = CredentialGate(0.5, 1.0, clock=t.clock, sleep=t.sleep)
    gate.sent(await gate.acquire())
    gate.sent(await gate.acquire())
    assert t.now == 102.0


async def actito_call(
    token_route: Callable[[web.Request], Awaitable[web.Response]],
    data_route: Callable[[web.Request], Awaitable[web.Response]],
) -> object:
    """One Actito call through VendorClient against a scripted token URL and data route."""
    app = web.Application()
    app.router.add_get("/auth/token", token_route)
    app.router.add_get("/entities/v5/entities", data_route)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    values: dict[str, object] = {
        "name": "actito",
        "vendor": "actito",
        "base_url": f"http://127.0.0.1:{server.port}",
        "token_env": "T",
        "rate_limit": 1000,
        "streams": ["entities"],
    }
    try:
        conn = ConnectionConfig.model_validate(values)
        async with VendorClient(conn, actito.connector, TOKEN) as client:
            body, _ = await client.send(Request("/entities/v5/entities"), what="entities")
            return body
    finally:
        await server.close()


async def test_a_401_refreshes_the_token_once_and_replays() -> None:
    """Actito: a token refused before its time is renewed, the call replayed, once."""
    tokens = iter(["first", "second"])
    seen: list[str] = []

    async def token_route(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == TOKEN  # the raw key, no scheme
        body = {"accessToken": next(tokens), "tokenType": "bearer", "expiresIn": "900s"}
        return web.json_response(body)

    async def data_route(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer first":
            return web.json_response({"status": 401, "error": "Unauthorized"}, status=401)
        return web.json_response({"entities": [{"id": 1, "name": "e"}]})

    body = await actito_call(token_route, data_route)
    assert body == {"entities": [{"id": 1, "name": "e"}]}
    assert seen == ["Bearer first", "Bearer second"]


async def test_a_second_401_after_a_fresh_token_is_an_auth_failure() -> None:
    async def token_route(request: web.Request) -> web.Response:
        return web.json_response({"accessToken": "t", "expiresIn": "900s"})

    async def data_route(request: web.Request) -> web.Response:
        return web.json_response({"status": 401, "error": "Unauthorized"}, status=401)

    with pytest.raises(errors.AuthError):
        await actito_call(token_route, data_route)
