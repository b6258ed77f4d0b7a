"""Ioto sandbox writes: fault knobs, the throttle, `expires` purging and sandbox time."""

from __future__ import annotations

import asyncio
import time

import orjson
from ioto_support import CREATE, FIND, GET, a_device, store

from syncer.sandbox.ioto import IOTO_KEY, IotoConfig, create_app


async def test_write_fail_after_apply_applies_then_answers_500(ioto):
    """write_fail_after_apply N (set at runtime): the next N writes that change data are applied
    and answered 500 text; gets and no-op removes do not count; then writes answer 200."""
    sandbox = await ioto()
    device = a_device(sandbox)
    response = await sandbox.client.post("/_sandbox/config", json={"write_fail_after_apply": 2})
    assert orjson.loads(await response.read()) == {"write_fail_after_apply": 2}
    statuses = []
    for key in ("f.1", "f.2"):
        reply = await sandbox.call(CREATE, store(device, key=key))
        statuses.append((reply.status, reply.content_type))
        await sandbox.call(GET, {"_type": "Store", "deviceId": device, "key": key})
    noop = {"_type": "Store", "deviceId": device, "key": "none"}
    assert (await sandbox.call("/tok/generic/remove", noop)).status == 200
    assert statuses == [(500, "text/plain")] * 2
    assert [w.key for w in sandbox.sb.ledger] == [f"{device}/f.1", f"{device}/f.2"]
    assert sandbox.sb.config.write_fail_after_apply == 0
    found = await sandbox.find(FIND, {"_type": "Store", "deviceId": device, "key": "f.2"})
    assert [item["key"] for item in found["data"]] == ["f.2"]
    assert (await sandbox.call(CREATE, store(device, key="f.3"))).status == 200


async def test_write_delay_applies_before_answering(ioto):
    """write_delay_ms: the write is in the data (and the ledger) while its answer is delayed."""
    sandbox = await ioto(write_delay_ms=150.0)
    device = a_device(sandbox)
    started = time.perf_counter()
    pending = asyncio.create_task(sandbox.call(CREATE, store(device, key="slow")))
    for _ in range(100):
        if sandbox.sb.ledger:
            break
        await asyncio.sleep(0.005)
    assert not pending.done()
    assert f"{device}/slow" in {f"{i['deviceId']}/{i['key']}" for i in sandbox.sb.records("Store")}
    reply = await pending
    assert reply.status == 200 and time.perf_counter() - started >= 0.15
    sandbox.sb.config.write_delay_ms = 0
    started = time.perf_counter()
    await sandbox.call(GET, {"_type": "Store", "deviceId": device, "key": "slow"})
    assert time.perf_counter() - started < 0.15


async def test_throttle_applies_to_writes(ioto, fake_clock):
    """Writes count toward rate_limit; a refused write (429 JSON) is not applied."""
    sandbox = await ioto(rate_limit=2, clock=fake_clock)
    device = a_device(sandbox)
    statuses = [(await sandbox.call(CREATE, store(device, key=f"t.{i}"))).status for i in range(3)]
    assert statuses == [200, 200, 429]
    refused = await sandbox.call(GET, {"_type": "Store", "deviceId": device, "key": "t.0"})
    assert (refused.status, refused.json()) == (429, {"message": "Too Many Requests"})
    assert [w.key for w in sandbox.sb.ledger] == [f"{device}/t.0", f"{device}/t.1"]
    fake_clock.advance(1)
    assert (await sandbox.call(CREATE, store(device, key="t.2"))).status == 200


async def test_expired_items_are_purged(ioto, fake_clock):
    """An item whose `expires` sandbox time reaches is no longer served or counted; `expires` is
    stored as an ISO date (sent as ISO, Unix seconds or ms); purges are not writes."""
    sandbox = await ioto(clock=fake_clock)
    device = a_device(sandbox)
    soon = await sandbox.call(CREATE, store(device, key="e.1", expires="2025-07-01T02:00:05+02:00"))
    assert soon.json()["data"]["expires"] == "2025-07-01T00:00:05.000Z"
    later = store(device, key="e.2", expires=1751328010)  # 2025-07-01T00:00:10Z in seconds
    assert (await sandbox.call(CREATE, later)).json()["data"][
        "expires"
    ] == "2025-07-01T00:00:10.000Z"
    key = {"_type": "Store", "deviceId": device}
    fake_clock.advance(5)
    assert (await sandbox.call(GET, key | {"key": "e.1"})).json() == {"data": None}
    found = await sandbox.find(FIND, key | {"_params": {"limit": 1000}})
    assert "e.1" not in {i["key"] for i in found["data"]} and "e.2" in {
        i["key"] for i in found["data"]
    }
    fake_clock.advance(5)
    stats = orjson.loads(await (await sandbox.client.get("/_sandbox/stats")).read())
    assert stats["records"]["Store"] == 150 and stats["purged"] == 2 and stats["ledger"] == 2
    assert len(sandbox.sb.ledger) == 2


def test_sandbox_time_follows_the_clock_and_generations(fake_clock):
    """Sandbox time starts at 2025-07-01T00:00:00Z, moves with the clock and jumps to a
    generation's instant, never backwards."""
    sb = create_app(IotoConfig(devices=10, store_items=10, logs=10), clock=fake_clock)[IOTO_KEY]
    start = sb.now_ms()
    fake_clock.advance(1.25)
    assert sb.now_ms() == start + 1250
    sb.generation()
    day = start + 86_400_000
    assert sb.now_ms() == day
    fake_clock.advance(2)
    assert sb.now_ms() == day + 2000
