"""Auth, the per-token rate limit, latency and the request log."""

from __future__ import annotations

import time

import orjson
import pytest

from syncer.sandbox.common.ratelimit import Limiter, Rule, max_in_window
from syncer.sandbox.exto import EXTO_KEY

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
READY = "/data/api/v1/health/readiness"


async def test_missing_or_unknown_token_is_401_with_error_body(make_client):
    """No token, an unknown token or a non-Bearer scheme: 401 with Exto's error body."""
    client = await make_client()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "sandbox-token"}):
        response = await client.get(MASTERS, headers=headers)
        assert response.status == 401
        assert response.content_type == "application/json"
        body = orjson.loads(await response.read())
        assert set(body) == {"code", "timestamp", "path", "error"}
        assert body["code"] == 401
        assert body["path"] == "/api/v1/master-record/LOCATION"
        assert body["error"] == {
            "summary": "Unauthorized",
            "detail": ["Invalid authentication token."],
        }
        assert body["timestamp"].endswith("Z")


async def test_every_configured_token_is_accepted(make_client):
    """Any token listed in config.tokens authenticates."""
    client = await make_client(tokens=("a", "b"))
    for token in ("a", "b"):
        response = await client.get(MASTERS, headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200


async def test_health_needs_no_token_and_is_never_limited(make_client, clock):
    """Health probes answer without a token and ignore the rate limit."""
    client = await make_client(rate_limit=1, clock=clock)
    for _ in range(5):
        response = await client.get(READY)
        assert response.status == 200
        assert orjson.loads(await response.read()) == {"ok": True}
    live = orjson.loads(await (await client.get("/data/api/v1/health/liveness")).read())
    assert set(live) == {"ok", "cpuPercent", "memPercent"}
    assert live["ok"] is True


async def test_fourth_request_in_a_second_is_429_without_retry_after(make_client, clock):
    """Three requests per token per second pass; the fourth is 429 without Retry-After."""
    client = await make_client(rate_limit=3, clock=clock)
    statuses = [(await client.get(MASTERS, headers=AUTH)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    clock.advance(0.999)
    refused = await client.get(MASTERS, headers=AUTH)
    assert refused.status == 429
    assert "Retry-After" not in refused.headers
    body = orjson.loads(await refused.read())
    assert body["error"]["summary"] == "TOO MANY REQUESTS"
    assert body["code"] == 429
    clock.advance(0.001)
    assert (await client.get(MASTERS, headers=AUTH)).status == 200


async def test_retry_after_header_behind_knob(make_client, clock):
    """With retry_after on, a 429 carries `Retry-After: 1`."""
    client = await make_client(rate_limit=1, retry_after=True, clock=clock)
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    refused = await client.get(MASTERS, headers=AUTH)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"


async def test_rejected_requests_do_not_extend_the_window(make_client, clock):
    """A burst of 429s does not push back the moment the token may send again."""
    client = await make_client(rate_limit=2, clock=clock)
    for _ in range(2):
        assert (await client.get(MASTERS, headers=AUTH)).status == 200
    for step in range(5):
        clock.advance(0.1)
        assert (await client.get(MASTERS, headers=AUTH)).status == 429, step
    clock.advance(0.5)  # 1.0 s after the first two accepted requests
    assert (await client.get(MASTERS, headers=AUTH)).status == 200


async def test_limit_is_per_token_and_checked_after_auth(make_client, clock):
    """Each token has its own window; a bad token gets 401, not 429, and uses no one's window."""
    client = await make_client(rate_limit=1, tokens=("a", "b"), clock=clock)
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer a"})).status == 200
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer a"})).status == 429
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer zzz"})).status == 401
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer b"})).status == 200


async def test_rate_limit_knob_changes_at_run_time(make_client, clock):
    """Setting rate_limit to 0 lifts the limit immediately."""
    client = await make_client(rate_limit=1, clock=clock)
    sb = client.app[EXTO_KEY]
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert (await client.get(MASTERS, headers=AUTH)).status == 429
    sb.config.rate_limit = 0
    assert (await client.get(MASTERS, headers=AUTH)).status == 200


async def test_request_log_and_max_in_window(make_client, clock):
    """The log records data and health requests; max_in_window counts accepted ones only."""
    client = await make_client(rate_limit=3, clock=clock)
    sb = client.app[EXTO_KEY]
    for _ in range(5):
        await client.get(MASTERS, params={"pageSize": "5"}, headers=AUTH)
    clock.advance(0.5)
    await client.get(MASTERS, headers=AUTH)
    await client.get(READY)
    assert [e.status for e in sb.request_log] == [200, 200, 200, 429, 429, 429, 200]
    first = sb.request_log[0]
    assert (first.method, first.path, first.query, first.token) == (
        "GET",
        MASTERS,
        {"pageSize": "5"},
        "sandbox-token",
    )
    assert sb.request_log[-1].token is None
    assert sb.max_in_window("sandbox-token") == 3
    assert sb.max_in_window("sandbox-token", window=10.0) == 3
    assert sb.count_status(429) == 3
    sb.reset_log()
    assert sb.request_log == []
    assert sb.max_in_window("sandbox-token") == 0


async def test_latency_knob_delays_data_requests(make_client):
    """latency_ms delays each data request by at least that long."""
    client = await make_client()
    client.app[EXTO_KEY].config.latency_ms = 60
    started = time.perf_counter()
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert time.perf_counter() - started >= 0.055  # asyncio may wake a hair early


async def test_latency_does_not_move_the_rate_limit_decision(make_client, clock):
    """The limiter decides on arrival, before the latency sleep."""
    client = await make_client(rate_limit=1, latency_ms=5, clock=clock)
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert (await client.get(MASTERS, headers=AUTH)).status == 429


def test_limiter_window_is_half_open():
    """A request exactly one window after another no longer counts against it."""
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule(2, 1.0)
    assert [limiter.admit("t", rule) for _ in range(3)] == [True, True, False]
    now[0] = 0.5
    assert limiter.admit("t", rule) is False
    now[0] = 1.0
    assert limiter.admit("t", rule) is True
    assert limiter.admit("t", rule) is True
    assert limiter.admit("t", rule) is False
    assert limiter.admit("other", rule) is True


def test_limiter_zero_means_unlimited():
    """limit 0 admits everything, whatever the kind."""
    limiter = Limiter(clock=lambda: 0.0)
    for kind in ("sliding", "fixed", "token_bucket"):
        assert all(limiter.admit("t", Rule(0, 1.0, kind)) for _ in range(100))


def test_fixed_windows_start_on_the_clock():
    """Fixed: a window is a span of the clock; a new span starts with a fresh count, so two
    bursts either side of a boundary both pass."""
    now = [10.9]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule(2, 1.0, "fixed")
    assert [limiter.admit("t", rule) for _ in range(3)] == [True, True, False]
    assert limiter.check("t", rule).retry_after == pytest.approx(0.1)
    now[0] = 11.0
    assert [limiter.admit("t", rule) for _ in range(3)] == [True, True, False]
    now[0] = 11.99
    assert limiter.admit("t", rule) is False


def test_token_bucket_without_burst_wants_even_spacing():
    """Token bucket, burst 1, 4 a second: one request each 0.25 s passes; two closer together
    do not, although a sliding window of 4 a second would take both."""
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule(4, 1.0, "token_bucket")
    assert limiter.admit("t", rule) is True
    assert limiter.admit("t", rule) is False
    for step in range(1, 9):
        now[0] = step * 0.25
        assert limiter.admit("t", rule) is True, step
    now[0] += 0.2
    assert limiter.admit("t", rule) is False
    assert limiter.check("t", rule).retry_after == pytest.approx(0.05)


def test_token_bucket_burst_is_its_capacity():
    """Burst 3: three at once from a full bucket, then one per refill; idle time stores no
    more than the burst."""
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule(2, 1.0, "token_bucket", burst=3)
    assert [limiter.admit("t", rule) for _ in range(4)] == [True, True, True, False]
    now[0] = 100.0
    assert [limiter.admit("t", rule) for _ in range(4)] == [True, True, True, False]
    now[0] = 100.5
    assert [limiter.admit("t", rule) for _ in range(2)] == [True, False]


@pytest.mark.parametrize("kind", ["sliding", "fixed", "token_bucket"])
def test_limit_factor_enforces_a_share_of_the_documented_rate(kind):
    """limit_factor 0.5 of 4 a second: over 10 s of a request every 0.05 s, each kind admits
    about 2 a second (20, give or take a window's worth), not 4."""
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule(4, 1.0, kind, factor=0.5)
    admitted = 0
    for step in range(200):
        now[0] = step * 0.05
        admitted += limiter.admit("t", rule)
    assert 19 <= admitted <= 24


async def test_limiter_knobs_switch_the_kind_at_run_time(make_client, clock):
    """POST /_sandbox/config sets the kind, burst and factor; bad values are a 400."""
    client = await make_client(rate_limit=2, clock=clock)
    answer = await client.post(
        "/_sandbox/config", json={"limiter": "token_bucket", "limiter_burst": 1}
    )
    assert await answer.json() == {"limiter": "token_bucket", "limiter_burst": 1}
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert (await client.get(MASTERS, headers=AUTH)).status == 429  # no burst
    clock.advance(0.5)
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    for bad in (
        {"limiter": "leaky"},
        {"limiter_burst": 0},
        {"limiter_burst": 1.5},
        {"limit_factor": 0},
        {"limit_factor": True},
    ):
        refused = await client.post("/_sandbox/config", json=bad)
        assert refused.status == 400, bad
    sb = client.app[EXTO_KEY]
    assert (sb.config.limiter, sb.config.limiter_burst, sb.config.limit_factor) == (
        "token_bucket",
        1,
        1.0,
    )


async def test_limit_factor_over_http(make_client, clock):
    """rate_limit 4 at limit_factor 0.5: a sliding window of 4 in 2 s."""
    client = await make_client(rate_limit=4, limit_factor=0.5, clock=clock)
    statuses = []
    for _ in range(6):
        statuses.append((await client.get(MASTERS, headers=AUTH)).status)
        clock.advance(0.3)
    assert statuses == [200, 200, 200, 200, 429, 429]
    clock.advance(0.6)  # 2.1 s after the first
    assert (await client.get(MASTERS, headers=AUTH)).status == 200


@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([], 1.0, 0),
        ([0.0], 1.0, 1),
        ([0.0, 0.5, 0.99, 1.0], 1.0, 3),
        ([0.0, 1.0, 2.0, 3.0], 1.0, 1),
        ([0.0, 0.1, 0.2, 5.0, 5.1, 5.2, 5.3], 1.0, 4),
        ([0.0, 1.0, 2.0, 3.0], 2.5, 3),
    ],
)
def test_max_in_window(times, window, expected):
    """max_in_window finds the busiest half-open window."""
    assert max_in_window(times, window) == expected
