"""The write ledger, the write fault knobs, and writes under the licence limits."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp import web

from syncer.sandbox.actito import ACTITO_KEY, ActitoConfig, AppliedWrite, create_app

from .helpers import (
    ORDER_KEY,
    PROFILES,
    V4_PROFILE,
    V4_PROFILES,
    V4_RECORDS,
    bearer,
    get_json,
    order_body,
    pairs,
    profile_body,
    sandbox,
    send,
)


async def test_ledger_lists_applied_writes_only(make_actito, clock):
    """Every applied write, in order, with its operation, key and `created`; refusals absent."""
    client = await make_actito(clock=clock)
    headers = await bearer(client)
    sb = sandbox(client)
    _, created = await send(client, "POST", V4_PROFILES, headers, profile_body())
    pid = str(created["profileId"])
    clock.advance(1)
    assert (await send(client, "POST", V4_PROFILES, headers, profile_body()))[0] == 409
    update = {"attributes": pairs(customerId="C-90001", loyaltyPoints=1)}
    await send(client, "POST", V4_PROFILES, headers, update, allowUpdate="true")
    await send(client, "POST", V4_RECORDS, headers, order_body())
    await send(client, "POST", V4_RECORDS, headers, order_body(status="PAID"))
    await send(client, "PUT", f"{V4_RECORDS}/{ORDER_KEY}", headers, order_body())
    await send(client, "DELETE", f"{V4_RECORDS}/{ORDER_KEY}", headers)
    assert (await send(client, "DELETE", f"{V4_RECORDS}/{ORDER_KEY}", headers))[0] == 404
    await send(client, "DELETE", f"{V4_PROFILES}/{pid}", headers)
    assert [(w.operation, w.key, w.created) for w in sb.ledger] == [
        ("profile.create", pid, True),
        ("profile.update", pid, False),
        ("custom.upsert", ORDER_KEY, True),
        ("custom.upsert", ORDER_KEY, False),
        ("custom.update", ORDER_KEY, False),
        ("custom.delete", ORDER_KEY, False),
        ("profile.delete", pid, False),
    ]
    assert sb.ledger[0] == AppliedWrite(1000.0, "POST", V4_PROFILES, "profile.create", pid, True)
    assert sb.ledger[1].at == 1001.0
    assert sb.ledger[-1].method == "DELETE"
    served = orjson.loads(await (await client.get("/_sandbox/ledger")).read())
    assert served[0] == {
        "at": 1000.0,
        "method": "POST",
        "path": V4_PROFILES,
        "operation": "profile.create",
        "key": pid,
        "created": True,
    }
    assert len(served) == 7
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["ledger"] == 7
    sb.reset_log()  # the request log and the ledger are separate
    assert len(sb.ledger) == 7
    assert (await client.post("/_sandbox/reset-ledger")).status == 200
    assert sb.ledger == []
    await send(client, "DELETE", f"{V4_RECORDS}/{sb.records('custom')[0]['businessKey']}", headers)
    assert [w.operation for w in sb.ledger] == ["custom.delete"]
    sb.reset_ledger()
    assert sb.ledger == []


async def test_ledger_path_keeps_a_mount_prefix(make_actito):
    """Like the request log, the ledger records the path as sent."""
    actito = create_app(ActitoConfig(profiles=20, custom_records=20))
    root = web.Application()
    root.add_subapp("/actito", actito)
    client = await make_actito(app=root)
    headers = await bearer(client, prefix="/actito")
    response = await client.post("/actito" + V4_RECORDS, headers=headers, json=order_body())
    assert response.headers["Location"] == f"/actito{V4_RECORDS}/{ORDER_KEY}"
    assert actito[ACTITO_KEY].ledger[0].path == "/actito" + V4_RECORDS


async def test_write_fail_after_apply_answers_504_after_applying(make_actito):
    """The next N writes are applied (ledger, data) but answered 504; then normal answers."""
    client = await make_actito()
    headers = await bearer(client)
    sb = sandbox(client)
    response = await client.post("/_sandbox/config", json={"write_fail_after_apply": 2})
    assert orjson.loads(await response.read()) == {"write_fail_after_apply": 2}
    for bad in (
        {"write_fail_after_apply": -1},
        {"write_fail_after_apply": 1.5},
        {"write_delay_ms": -1},
    ):
        assert (await client.post("/_sandbox/config", json=bad)).status == 400
    assert (await send(client, "POST", V4_PROFILES, headers, {"attributes": []}))[0] == 400
    status, error = await send(client, "POST", V4_PROFILES, headers, profile_body())
    assert (status, error["status"], error["error"]) == (504, 504, "Gateway Timeout")
    status, _ = await send(client, "POST", V4_RECORDS, headers, order_body())
    assert status == 504
    assert sb.config.write_fail_after_apply == 0
    assert [w.operation for w in sb.ledger] == ["profile.create", "custom.upsert"]
    assert sb.records("custom")[-1]["businessKey"] == ORDER_KEY
    # the client retries the lost answer: the key makes it idempotent
    status, _ = await send(client, "POST", V4_PROFILES, headers, profile_body(), allowUpdate="true")
    assert status == 200
    assert (await send(client, "POST", V4_RECORDS, headers, order_body()))[0] == 200
    assert sb.count_status(504) == 2


async def test_write_delay_applies_before_answering(make_actito):
    """During write_delay_ms the write is already visible to reads; the answer comes after."""
    client = await make_actito(write_delay_ms=250)
    headers = await bearer(client)
    sb = sandbox(client)
    started = time.perf_counter()
    writing = asyncio.create_task(send(client, "POST", V4_RECORDS, headers, order_body()))
    while not sb.ledger:  # noqa: ASYNC110 - the ledger is the thing to watch
        await asyncio.sleep(0.002)
    assert (await get_json(client, f"{V4_RECORDS}/{ORDER_KEY}", headers))[0] == 200
    assert not writing.done()
    assert (await writing)[0] == 201
    assert time.perf_counter() - started >= 0.24
    slow = time.perf_counter()
    assert (await send(client, "POST", V4_RECORDS, headers, order_body(status="X")))[0] == 400
    assert time.perf_counter() - slow < 0.2  # refused writes are not delayed


async def test_sixth_concurrent_write_is_429(make_actito):
    """Writes share the licence's 5 slots: a 6th one in flight is refused and not applied."""
    client = await make_actito(write_delay_ms=300)
    headers = await bearer(client)
    bodies = [profile_body(f"p{i}@example.com", f"C-9100{i}") for i in range(6)]
    results = await asyncio.gather(
        *(send(client, "POST", V4_PROFILES, headers, body) for body in bodies)
    )
    assert sorted(status for status, _ in results) == [201] * 5 + [429]
    sb = sandbox(client)
    assert len(sb.ledger) == 5
    assert (sb.max_concurrent, sb.in_flight) == (5, 0)
    assert len(sb.records("profiles")) == 305


async def test_writes_count_per_minute_like_reads(make_actito, clock):
    """Reads and writes share the calls-per-minute window and its slow-down."""
    client = await make_actito(rate_limit=2, throttle_ms_per_excess_call=20, clock=clock)
    headers = await bearer(client)
    assert (await client.get(PROFILES, headers=headers)).status == 200
    assert (await send(client, "POST", V4_RECORDS, headers, order_body()))[0] == 201
    assert (await send(client, "DELETE", f"{V4_RECORDS}/{ORDER_KEY}", headers))[0] == 204
    assert (await client.get(PROFILES, headers=headers)).status == 200
    sb = sandbox(client)
    assert (sb.throttled_calls, sb.throttled_ms) == (2, 60.0)


async def test_reads_see_writes_at_once(make_actito):
    """Keyset lists and v4 lookups reflect creates, updates and deletes immediately."""
    client = await make_actito()
    headers = await bearer(client)
    _, created = await send(client, "POST", V4_PROFILES, headers, profile_body())
    pid = created["profileId"]
    _, page = await get_json(client, PROFILES, headers, limit="1000")
    assert page["profiles"][-1]["profileId"] == pid
    await send(client, "POST", V4_RECORDS, headers, order_body(customerId="C-90001"))
    search = {"searchField": "customerId", "searchValue": "C-90001"}
    status, found = await get_json(client, V4_RECORDS, headers, **search)
    assert (status, [r["businessKey"] for r in found["records"]]) == (
        200,
        [ORDER_KEY],
    )
    await send(client, "DELETE", f"{V4_PROFILES}/{pid}", headers)
    assert (await get_json(client, V4_PROFILE + str(pid), headers))[0] == 404
    _, page = await get_json(client, PROFILES, headers, limit="1000")
    assert pid not in [p["profileId"] for p in page["profiles"]]
