"""The licence limits: 5 requests in flight (429 at once) and 100 calls a minute (slowed down)."""

from __future__ import annotations

import asyncio
import time

import orjson

from syncer.sandbox.actito.limits import CallWindow, LicenceGate

from .helpers import KEY, PROFILES, TOKEN, bearer, sandbox


async def test_sixth_request_in_flight_is_refused_at_once(make_actito):
    """Six concurrent requests held in flight by latency: five answer 200, one 429 at once."""
    client = await make_actito(latency_ms=300)
    headers = await bearer(client)
    responses = await asyncio.gather(*(client.get(PROFILES, headers=headers) for _ in range(6)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 5 + [429]
    refused = next(r for r in responses if r.status == 429)
    assert "Retry-After" not in refused.headers
    body = orjson.loads(await refused.read())
    assert (body["status"], body["error"]) == (429, "Too Many Requests")
    sb = sandbox(client)
    assert sb.max_concurrent == 5
    assert sb.in_flight == 0
    assert sb.count_status(429) == 1


async def test_retry_after_header_behind_knob(make_actito):
    """With retry_after on, the 429 carries `Retry-After: 1`."""
    client = await make_actito(latency_ms=200, max_concurrent=1, retry_after=True)
    headers = await bearer(client)
    responses = await asyncio.gather(*(client.get(PROFILES, headers=headers) for _ in range(2)))
    refused = next(r for r in responses if r.status == 429)
    assert refused.headers["Retry-After"] == "1"
    assert sandbox(client).max_concurrent == 1


async def test_token_route_is_outside_the_cap(make_actito):
    """A token can be fetched while the licence's slots are all taken."""
    client = await make_actito(latency_ms=200, max_concurrent=1)
    headers = await bearer(client)
    sb = sandbox(client)
    busy = asyncio.create_task(client.get(PROFILES, headers=headers))
    while sb.in_flight == 0:  # noqa: ASYNC110 - a counter to poll, no event to wait on
        await asyncio.sleep(0.002)
    assert (await client.get(TOKEN, headers={"Authorization": KEY})).status == 200
    assert (await client.get(PROFILES, headers=headers)).status == 429
    assert (await busy).status == 200


async def test_calls_over_the_minute_limit_are_slowed_never_refused(make_actito, clock):
    """Beyond rate_limit each call waits throttle_ms x the calls over the limit."""
    client = await make_actito(rate_limit=3, throttle_ms_per_excess_call=30, clock=clock)
    headers = await bearer(client)
    sb = sandbox(client)
    for _ in range(4):
        assert (await client.get(PROFILES, headers=headers)).status == 200
    started = time.perf_counter()
    assert (await client.get(PROFILES, headers=headers)).status == 200
    assert time.perf_counter() - started >= 0.055  # the 5th call is 2 over: 60 ms
    assert (sb.throttled_calls, sb.throttled_ms) == (2, 90.0)
    assert sb.count_status(429) == 0
    clock.advance(60.0)  # the window slides past every earlier call
    assert (await client.get(PROFILES, headers=headers)).status == 200
    assert (sb.throttled_calls, sb.throttled_ms) == (2, 90.0)
    assert sb.stats()["throttled_calls"] == 2


async def test_refused_and_unauthenticated_calls_do_not_count_per_minute(make_actito, clock):
    """401s never reach the limits, so they earn no one a slow-down."""
    client = await make_actito(rate_limit=1, throttle_ms_per_excess_call=30, clock=clock)
    for _ in range(3):
        assert (await client.get(PROFILES)).status == 401
    assert (await client.get(PROFILES, headers=await bearer(client))).status == 200
    assert sandbox(client).throttled_calls == 0


async def test_slowed_calls_stay_in_flight_and_hit_the_cap(make_actito, clock):
    """A client ignoring the per-minute limit fills its slots with slowed calls, then gets 429."""
    client = await make_actito(
        rate_limit=1, throttle_ms_per_excess_call=250, max_concurrent=2, clock=clock
    )
    headers = await bearer(client)
    assert (await client.get(PROFILES, headers=headers)).status == 200  # within the limit
    responses = await asyncio.gather(*(client.get(PROFILES, headers=headers) for _ in range(3)))
    assert sorted(r.status for r in responses) == [200, 200, 429]
    assert sandbox(client).max_concurrent == 2


def test_gate_counts_in_flight_and_remembers_the_peak():
    """A refusal changes nothing; the peak survives leaving and resets to the current count."""
    gate = LicenceGate()
    assert [gate.enter(2) for _ in range(3)] == [True, True, False]
    assert (gate.in_flight, gate.peak) == (2, 2)
    gate.leave()
    assert gate.enter(2)
    gate.leave()
    gate.leave()
    assert (gate.in_flight, gate.peak) == (0, 2)
    gate.reset_peak()
    assert gate.peak == 0
    assert all(gate.enter(0) for _ in range(10))  # 0 = no cap


def test_call_window_is_sliding_and_half_open():
    """A call exactly one window old no longer counts."""
    window = CallWindow(window=60.0)
    assert [window.throttle_ms(0.0, 2, 100.0) for _ in range(4)] == [0.0, 0.0, 100.0, 200.0]
    assert window.throttle_ms(59.9, 2, 100.0) == 300.0
    assert window.record(60.0) == 2  # the four calls at 0.0 have left the window
    assert window.throttle_ms(60.0, 0, 100.0) == 0.0  # 0 = never slow down


def test_call_window_fixed_counts_per_minute_of_the_clock():
    """Fixed: the excess counts within the clock's minute; a new minute starts afresh."""
    window = CallWindow(window=60.0)
    delays = [window.throttle_ms(59.0, 2, 100.0, kind="fixed") for _ in range(3)]
    assert delays == [0.0, 0.0, 100.0]
    assert window.throttle_ms(60.0, 2, 100.0, kind="fixed") == 0.0


def test_call_window_token_bucket_slows_calls_closer_than_the_rate():
    """Token bucket, 2 a minute, burst 1: one call each 30 s is never slowed; a call 10 s after
    another is one token short, the next two short."""
    window = CallWindow(window=60.0)
    assert [window.throttle_ms(t, 2, 100.0, kind="token_bucket") for t in (0, 30, 60)] == [0.0] * 3
    assert window.throttle_ms(70.0, 2, 100.0, kind="token_bucket") == 100.0
    assert window.throttle_ms(70.0, 2, 100.0, kind="token_bucket") == 200.0


def test_call_window_limit_factor_stretches_the_minute():
    """limit_factor 0.5: 2 calls a minute become 2 in any 120 s."""
    window = CallWindow(window=60.0)
    delays = [window.throttle_ms(t, 2, 100.0, factor=0.5) for t in (0.0, 50.0, 100.0, 120.0)]
    assert delays == [0.0, 0.0, 100.0, 100.0]


async def test_limiter_knobs_over_http(make_actito, clock):
    """The limiter knobs are runtime knobs of POST /_sandbox/config, checked like the others."""
    client = await make_actito(rate_limit=1, throttle_ms_per_excess_call=1, clock=clock)
    answer = await client.post(
        "/_sandbox/config", json={"limiter": "fixed", "limiter_burst": 2, "limit_factor": 0.75}
    )
    assert answer.status == 200
    assert await answer.json() == {"limiter": "fixed", "limiter_burst": 2, "limit_factor": 0.75}
    assert (await client.post("/_sandbox/config", json={"limiter": "nope"})).status == 400
    headers = await bearer(client)
    for _ in range(2):
        assert (await client.get(PROFILES, headers=headers)).status == 200
    assert sandbox(client).throttled_calls == 1
