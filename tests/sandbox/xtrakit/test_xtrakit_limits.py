"""The per-key rate limit (60 per minute, sliding), its headers, latency and the request log."""

from __future__ import annotations

import time

import orjson
from xtrakit_support import API, AUTH, CUSTOMERS, KEY, SALES

from syncer.sandbox.xtrakit import XTRAKIT_KEY
from syncer.sandbox.xtrakit.limits import Throttle


async def test_sixty_first_request_in_a_minute_is_429_with_retry_after(make_xtrakit, clock):
    """60 requests pass in a minute; the 61st is 429 in the envelope, with Retry-After."""
    client = await make_xtrakit(rate_limit=60, clock=clock)
    for n in range(60):
        response = await client.get(CUSTOMERS, headers=AUTH)
        assert response.status == 200
        assert response.headers["X-RateLimit-Limit"] == "60"
        assert response.headers["X-RateLimit-Remaining"] == str(59 - n)
        assert "Retry-After" not in response.headers
        clock.advance(0.5)  # 60 requests over 30 s
    refused = await client.get(SALES, headers=AUTH)
    assert refused.status == 429
    assert orjson.loads(await refused.read()) == {
        "status": 429,
        "message": "Too Many Attempts.",
        "data": None,
    }
    # the first request leaves the window 60 s after it was made, 30 s from now
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-RateLimit-Limit"] == "60"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    clock.advance(29.9)
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 429
    clock.advance(0.1)
    admitted = await client.get(CUSTOMERS, headers=AUTH)
    assert admitted.status == 200
    assert admitted.headers["X-RateLimit-Remaining"] == "0"


async def test_retry_after_is_at_least_one_second(make_xtrakit, clock):
    """Retry-After rounds up to whole seconds and never says 0."""
    client = await make_xtrakit(rate_limit=1, clock=clock)
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 200
    clock.advance(59.99)
    refused = await client.get(CUSTOMERS, headers=AUTH)
    assert (refused.status, refused.headers["Retry-After"]) == (429, "1")


async def test_limit_is_per_key_and_after_auth(make_xtrakit, clock):
    """Each key has its own window; bad keys get 401 without using anyone's window."""
    client = await make_xtrakit(rate_limit=1, api_keys=("a", "b"), clock=clock)
    assert (await client.get(CUSTOMERS, headers={"Authorization": "Bearer a"})).status == 200
    assert (await client.get(CUSTOMERS, headers={"Authorization": "Bearer a"})).status == 429
    bad = await client.get(CUSTOMERS, headers={"Authorization": "Bearer zzz"})
    assert bad.status == 401 and "X-RateLimit-Limit" not in bad.headers
    assert (await client.get(CUSTOMERS, headers={"Authorization": "Bearer b"})).status == 200


async def test_headers_knob_and_unlimited(make_xtrakit, clock):
    """rate_limit_headers=False drops the headers (429 still comes); 0 lifts the limit."""
    client = await make_xtrakit(rate_limit=1, rate_limit_headers=False, clock=clock)
    sb = client.app[XTRAKIT_KEY]
    first = await client.get(CUSTOMERS, headers=AUTH)
    refused = await client.get(CUSTOMERS, headers=AUTH)
    assert (first.status, refused.status) == (200, 429)
    for response in (first, refused):
        assert not {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} & set(
            response.headers
        )
    sb.config.rate_limit = 0
    free = await client.get(CUSTOMERS, headers=AUTH)
    assert free.status == 200 and "X-RateLimit-Limit" not in free.headers


async def test_402_and_400_answers_count_and_carry_the_headers(make_xtrakit, clock):
    """Admitted requests that then fail (402 suspended, 400 paging) used a slot, with headers."""
    client = await make_xtrakit(rate_limit=3, clock=clock)
    bad_page = await client.get(CUSTOMERS, params={"per_page": "0"}, headers=AUTH)
    assert (bad_page.status, bad_page.headers["X-RateLimit-Remaining"]) == (400, "2")
    client.app[XTRAKIT_KEY].config.suspended = True
    suspended = await client.get(CUSTOMERS, headers=AUTH)
    assert (suspended.status, suspended.headers["X-RateLimit-Remaining"]) == (402, "1")
    assert (await client.get(API + "/user/authenticate", headers=AUTH)).status == 402
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 429


async def test_request_log_and_max_in_window(make_xtrakit, clock):
    """The log records every API request; max_in_window counts the accepted ones per minute."""
    client = await make_xtrakit(rate_limit=3, clock=clock)
    sb = client.app[XTRAKIT_KEY]
    for _ in range(5):
        await client.get(CUSTOMERS, params={"per_page": "5"}, headers=AUTH)
    clock.advance(30)
    await client.get(CUSTOMERS)
    assert [e.status for e in sb.request_log] == [200, 200, 200, 429, 429, 401]
    first = sb.request_log[0]
    assert (first.at, first.method, first.path, first.query, first.token) == (
        1000.0,
        "GET",
        CUSTOMERS,
        {"per_page": "5"},
        KEY,
    )
    assert sb.request_log[-1].token is None
    assert sb.max_in_window(KEY) == 3
    assert sb.count_status(429) == 2
    sb.reset_log()
    assert sb.request_log == []
    assert sb.max_in_window(KEY) == 0


async def test_latency_knob_delays_requests(make_xtrakit):
    """latency_ms delays each API request by at least that long."""
    client = await make_xtrakit(latency_ms=60)
    started = time.perf_counter()
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 200
    assert time.perf_counter() - started >= 0.055  # asyncio may wake a hair early


def test_throttle_window_is_half_open():
    """A request exactly one window after another no longer counts against it."""
    now = [0.0]
    throttle = Throttle(window=60.0, clock=lambda: now[0])
    verdicts = [throttle.hit("k", 2) for _ in range(3)]
    assert [v.admitted for v in verdicts] == [True, True, False]
    assert [v.remaining for v in verdicts] == [1, 0, 0]
    assert verdicts[2].retry_after == 60
    now[0] = 59.5
    assert throttle.hit("k", 2).retry_after == 1
    now[0] = 60.0
    assert throttle.hit("k", 2).admitted
    assert throttle.hit("other", 2).admitted


async def test_token_bucket_throttle_says_when_the_next_token_comes(make_xtrakit, clock):
    """Token bucket, 60 a minute, burst 1: a request each second passes; one sooner is 429
    with Retry-After 1 (the whole seconds until the next token)."""
    client = await make_xtrakit(rate_limit=60, limiter="token_bucket", clock=clock)
    for _ in range(5):
        assert (await client.get(CUSTOMERS, headers=AUTH)).status == 200
        clock.advance(1.0)
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 200
    clock.advance(0.4)
    refused = await client.get(CUSTOMERS, headers=AUTH)
    assert (refused.status, refused.headers["Retry-After"]) == (429, "1")


async def test_fixed_minutes_and_limit_factor(make_xtrakit, clock):
    """Fixed at limit_factor 0.5: 2 a minute become 2 per clock span of 120 s."""
    client = await make_xtrakit(rate_limit=2, limiter="fixed", limit_factor=0.5, clock=clock)
    clock.now = 1200.0  # the start of a span
    statuses = []
    for _ in range(3):
        statuses.append((await client.get(CUSTOMERS, headers=AUTH)).status)
        clock.advance(50.0)
    assert statuses == [200, 200, 429]
    clock.now = 1320.0  # the next span
    assert (await client.get(CUSTOMERS, headers=AUTH)).status == 200
    assert (await client.post("/_sandbox/config", json={"limit_factor": -1})).status == 400
