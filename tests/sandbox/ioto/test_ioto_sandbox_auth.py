"""Ioto sandbox: auth, routing, request validation, the throttle, the request log, mounting."""

from __future__ import annotations

import time

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.ioto import IOTO_KEY, IotoConfig, create_app

TOKEN = "sandbox-ioto-token"
ACCOUNT = "01SANDBOXACCOUNT000000000"
DEVICES = "/tok/device/find"
GENERIC = "/tok/generic/find"


async def test_bare_and_bearer_tokens_are_accepted(ioto):
    """The bare token (documented form) and `Bearer <token>` in any case both authenticate."""
    sandbox = await ioto()
    for value in (TOKEN, f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN}"):
        reply = await sandbox.call(GENERIC, {"_type": "Store"}, token=value)
        assert reply.status == 200, value


async def test_missing_or_invalid_token_is_403_text(ioto):
    """No Authorization, an unknown token, or a Bearer of one: 403 text/plain, never JSON."""
    sandbox = await ioto()
    for token in (None, "", "nope", "Bearer nope", f"Basic {TOKEN}", "Bearer"):
        reply = await sandbox.call(DEVICES, {"accountId": ACCOUNT}, token=token)
        assert (reply.status, reply.content_type, reply.text) == (
            403,
            "text/plain",
            "Authentication failed",
        ), token


async def test_every_configured_token_is_accepted(ioto):
    """Any token in config.tokens authenticates; others do not."""
    sandbox = await ioto(tokens=("a", "b"))
    assert (await sandbox.call(GENERIC, {"_type": "Log"}, token="a")).status == 200
    assert (await sandbox.call(GENERIC, {"_type": "Log"}, token="Bearer b")).status == 200
    assert (await sandbox.call(GENERIC, {"_type": "Log"}, token=TOKEN)).status == 403


async def test_non_post_and_unknown_routes_are_400_text(ioto):
    """GET on a find route, or a route that does not exist: 400 text/plain, before auth."""
    sandbox = await ioto()
    for method, path, token in (
        ("GET", DEVICES, TOKEN),
        ("PUT", GENERIC, None),
        ("POST", "/tok/nope/find", TOKEN),
        ("POST", "/device/find", TOKEN),
        ("GET", "/", None),
    ):
        reply = await sandbox.call(path, {"_type": "Store"}, method=method, token=token)
        assert (reply.status, reply.content_type) == (400, "text/plain"), (method, path)
        assert reply.text


async def test_unknown_route_403_knob_answers_like_api_gateway(ioto):
    """With unknown_route_403 the same requests get API Gateway's 403 Missing Authentication
    Token (a gateway JSON body); known routes still work."""
    sandbox = await ioto(unknown_route_403=True)
    for method, path in (("GET", DEVICES), ("POST", "/tok/nope"), ("DELETE", GENERIC)):
        reply = await sandbox.call(path, {}, method=method)
        assert (reply.status, reply.content_type) == (403, "application/json")
        assert reply.json() == {"message": "Missing Authentication Token"}
    assert (await sandbox.call(GENERIC, {"_type": "Store"})).status == 200


async def test_device_find_requires_account_id(ioto):
    """device/find with a CloudAPI token needs accountId: 400 text without it."""
    sandbox = await ioto()
    for body in ({}, {"productId": "x"}, {"accountId": ""}, {"accountId": 7}, None):
        reply = await sandbox.call(DEVICES, body)
        assert (reply.status, reply.content_type) == (400, "text/plain"), body
        assert "accountId" in reply.text
    assert (await sandbox.find(DEVICES, {"accountId": ACCOUNT}))["data"]


async def test_generic_find_needs_a_known_type(ioto):
    """generic/find: missing _type or an unknown model → 400 text; schema models without data
    (Command, Broadcast) answer an empty final page."""
    sandbox = await ioto()
    for body in ({"deviceId": "X"}, {"_type": ""}, {"_type": "Nope"}, {"_type": "SyncState"}):
        reply = await sandbox.call(GENERIC, body)
        assert (reply.status, reply.content_type) == (400, "text/plain"), body
    for model in ("Command", "Broadcast"):
        assert await sandbox.find(GENERIC, {"_type": model}) == {"data": [], "paged": True}


async def test_bad_bodies_are_400_text(ioto):
    """A body that is not JSON, or not an object, or a `_params` that is not an object: 400."""
    sandbox = await ioto()
    raw = await sandbox.client.post(GENERIC, data=b"{not json", headers={"Authorization": TOKEN})
    assert (raw.status, raw.content_type) == (400, "text/plain")
    for body in ([1, 2], "Store", {"_type": "Store", "_params": [1]}):
        reply = await sandbox.call(GENERIC, body)
        assert (reply.status, reply.content_type) == (400, "text/plain"), body


async def test_throttle_answers_429_json_on_a_fake_clock(ioto, fake_clock):
    """Above rate_limit in any 1 s window (all tokens together): 429 with API
    Gateway's JSON; the window frees up as the clock moves."""
    sandbox = await ioto(rate_limit=2, clock=fake_clock)
    body = {"_type": "Store"}
    assert [(await sandbox.call(GENERIC, body)).status for _ in range(2)] == [200, 200]
    fake_clock.advance(0.5)
    refused = await sandbox.call(GENERIC, body, token=None)
    assert (refused.status, refused.content_type) == (429, "application/json")
    assert refused.json() == {"message": "Too Many Requests"}
    fake_clock.advance(0.5)
    assert (await sandbox.call(GENERIC, body)).status == 200
    sandbox.sb.config.rate_limit = 0
    assert [(await sandbox.call(GENERIC, body)).status for _ in range(5)] == [200] * 5
    assert sandbox.sb.count_status(429) == 1


async def test_request_log_records_merged_options_and_token(ioto, fake_clock):
    """Each API request is logged with the clock, path, token presented, status and the paging
    options actually used (query string over `_params`, default limit filled in)."""
    sandbox = await ioto(clock=fake_clock)
    first = await sandbox.find(GENERIC, {"_type": "Log", "_params": {"limit": 5}})
    await sandbox.find(GENERIC, {"_type": "Log", "_params": {"next": first["next"]}}, limit="7")
    await sandbox.call(GENERIC, {"_type": "Log"}, token="Bearer wrong")
    await sandbox.call(DEVICES, {}, params={"limit": "3"})
    log = sandbox.sb.request_log
    cursor = orjson.dumps(first["next"]).decode()
    assert log == [
        RequestLogEntry(1000.0, "POST", GENERIC, {"limit": "5"}, TOKEN, 200),
        RequestLogEntry(1000.0, "POST", GENERIC, {"limit": "7", "next": cursor}, TOKEN, 200),
        RequestLogEntry(1000.0, "POST", GENERIC, {}, "wrong", 403),
        RequestLogEntry(1000.0, "POST", DEVICES, {"limit": "3"}, TOKEN, 400),
    ]
    assert sandbox.sb.count_status(200) == 2
    sandbox.sb.reset_log()
    assert sandbox.sb.request_log == []


async def test_mounted_under_ioto_as_a_sub_app():
    """Mounted with add_subapp("/ioto", ...), every route works under the /ioto prefix."""
    parent = web.Application()
    child = create_app(IotoConfig(devices=20, store_items=30, logs=30))
    parent.add_subapp("/ioto", child)
    async with TestClient(TestServer(parent, host="127.0.0.1")) as client:
        headers = {"Authorization": TOKEN}
        found = await client.post(
            "/ioto/tok/device/find", json={"accountId": ACCOUNT}, headers=headers
        )
        assert found.status == 200
        assert len(orjson.loads(await found.read())["data"]) == 20
        assert (await client.get("/ioto/tok/device/find", headers=headers)).status == 400
        assert (await client.post("/ioto/tok/generic/find", json={"_type": "Log"})).status == 403
        stats = orjson.loads(await (await client.get("/ioto/_sandbox/stats")).read())
        assert stats["records"] == {"Device": 20, "Store": 30, "Log": 30}
        log = child[IOTO_KEY].request_log
        assert [e.path for e in log] == ["/ioto/tok/device/find"] * 2 + ["/ioto/tok/generic/find"]


async def test_latency_knob_delays_answers(ioto):
    """latency_ms is added to every API request (a few milliseconds here)."""
    sandbox = await ioto(latency_ms=30.0)
    started = time.perf_counter()
    await sandbox.call(GENERIC, {"_type": "Store"})
    assert time.perf_counter() - started >= 0.03


async def test_throttle_kinds_and_factor(ioto, fake_clock):
    """The throttle as a token bucket without burst (requests must come 1/rate apart), then
    as fixed windows at half the rate; both set through POST /_sandbox/config."""
    sandbox = await ioto(rate_limit=4, clock=fake_clock)
    body = {"_type": "Store"}
    answer = await sandbox.client.post("/_sandbox/config", json={"limiter": "token_bucket"})
    assert answer.status == 200
    assert [(await sandbox.call(GENERIC, body)).status for _ in range(2)] == [200, 429]
    fake_clock.advance(0.25)
    assert (await sandbox.call(GENERIC, body)).status == 200
    sandbox.sb.config.apply({"limiter": "fixed", "limit_factor": 0.5})
    fake_clock.now = 2000.0  # the start of a 2-second span
    assert [(await sandbox.call(GENERIC, body)).status for _ in range(5)] == [200] * 4 + [429]
    fake_clock.advance(1.9)
    assert (await sandbox.call(GENERIC, body)).status == 429
    fake_clock.advance(0.1)
    assert (await sandbox.call(GENERIC, body)).status == 200
