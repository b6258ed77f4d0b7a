"""Error mapping, Retry-After parsing and the retries around 429s, against scripted vendors
over HTTP (the gate's own rules are in test_pacing.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer

from syncer import errors
from syncer.answers import parse_retry_after
from syncer.connectors import actito, exto
from syncer.http import CredentialGate, VendorClient
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


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def send_through(
    server: TestServer, gate: CredentialGate, **settings: object
) -> tuple[object, StreamStats]:
    """One request through VendorClient and `gate` (a fake clock: pauses take no time)."""
    values: dict[str, object] = {**connection("https://x").model_dump(), **settings}
    values["base_url"] = f"http://127.0.0.1:{server.port}/data"
    stats = StreamStats()
    async with VendorClient(
        ConnectionConfig.model_validate(values), exto.connector, TOKEN, gate=gate
    ) as client:
        body, _ = await client.send(Request("/api/v1/user/user-access"), what="users", stats=stats)
    return body, stats


async def test_429s_cost_no_attempt_while_the_credential_makes_progress() -> None:
    """Six 429s in a row, then an answer: the request succeeds although it may make only
    three attempts; each 429 is counted, and the credential slowed down once."""
    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep)
    server = await scripted(*[(429, b"{}")] * 6, (200, b'{"rows": []}'))
    try:
        body, stats = await send_through(server, gate, max_attempts=3)
    finally:
        await server.close()
    assert body == {"rows": []}
    assert (stats.rate_limited, stats.retries, stats.requests) == (6, 6, 7)
    assert gate.rate < gate.ceiling
    assert any("paced down to" in w for w in stats.warnings)


async def test_429s_between_failures_leave_the_attempts_to_the_failures() -> None:
    """503, three 429s, 503, 503: the three 503s use the three attempts (stamina's testing
    mode allows 3), the 429s none."""
    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep)
    down = (503, orjson.dumps(error_body(503, "down")))
    server = await scripted(down, *[(429, b"{}")] * 3, down, down, (200, b"{}"))
    try:
        with pytest.raises(errors.RetriableVendorError) as caught:
            await send_through(server, gate)
    finally:
        await server.close()
    assert "HTTP 503" in caught.value.message


async def test_a_vendor_that_answers_429_forever_fails_after_the_deadline() -> None:
    """No request succeeds: once the credential has made no progress for the deadline, the
    request fails with RateLimited (exit 5) saying so, after a bounded number of requests."""
    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep, deadline=60.0)
    seen = 0

    async def always_429(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        return web.json_response(error_body(429, "Rate limit exceeded."), status=429)

    app = web.Application()
    app.router.add_get("/{tail:.*}", always_429)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        with pytest.raises(errors.RateLimited) as caught:
            await send_through(server, gate, max_attempts=100)
    finally:
        await server.close()
    assert "rate_limit_deadline" in caught.value.message and TOKEN not in caught.value.message
    assert caught.value.exit_code == errors.ExitCode.TRANSIENT
    assert t.now - 100.0 >= 60.0
    assert 3 <= seen <= 20


async def test_a_write_is_sent_again_after_a_429() -> None:
    """A write that is not idempotent (retry_ambiguous=False) is sent again after a 429,
    which proves it was not applied, and only then."""
    t = FakeTime()
    gate = CredentialGate(1000, clock=t.clock, sleep=t.sleep)
    queue = [(429, b"{}"), (200, b'{"ok": true}')]
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.method)
        status, body = queue.pop(0)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        values = {**connection("https://x").model_dump()}
        values["base_url"] = f"http://127.0.0.1:{server.port}/data"
        async with VendorClient(
            ConnectionConfig.model_validate(values), exto.connector, TOKEN, gate=gate
        ) as client:
            body, _ = await client.send(
                Request("/api/v1/x", method="POST", json=[{}]), what="w", retry_ambiguous=False
            )
    finally:
        await server.close()
    assert body == {"ok": True} and seen == ["POST", "POST"]
