"""The ledger of applied writes, the write faults, and auth and rate limits on writes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from exto_support import AUTH, MASTERS, send

from syncer.sandbox.exto import EXTO_KEY, AppliedWrite


def serials(sb):
    return [r["customFields"]["serial_number"] for r in sb.records("master")]


async def test_the_ledger_lists_applied_writes_only(make_client, clock):
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    ref = sb.records("master")[0]["refId"]
    clock.advance(5)
    rows = [{"serial_number": 2, "city": "Lagos"}, {"serial_number": 900}]
    await send(client, "POST", MASTERS, rows, 201)
    await send(client, "POST", MASTERS, [{"serial_number": "bad"}], 400)
    await send(client, "PATCH", MASTERS, [{"refId": "nope", "city": "x"}])  # matches nothing
    await send(client, "PATCH", MASTERS, [{"refId": ref, "city": "x"}])
    assert sb.ledger == [
        AppliedWrite(1005.0, "POST", MASTERS, "master.upsert", ("2", "900"), 1, 1, 0),
        AppliedWrite(1005.0, "PATCH", MASTERS, "master.patch", (ref,), 0, 1, 0),
    ]
    as_json = orjson.loads(await (await client.get("/_sandbox/ledger")).read())
    assert as_json[0] == {
        "at": 1005.0,
        "method": "POST",
        "path": MASTERS,
        "operation": "master.upsert",
        "keys": ["2", "900"],
        "inserted": 1,
        "updated": 1,
        "deleted": 0,
    }
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["ledger"] == 2
    sb.reset_ledger()
    assert sb.ledger == []
    await send(client, "POST", MASTERS, [{"serial_number": 2, "city": "Osaka"}], 201)
    assert len(sb.ledger) == 1
    assert (await client.post("/_sandbox/reset-ledger")).status == 200
    assert sb.ledger == []


async def test_a_write_changing_no_value_counts_as_updated_but_changes_nothing(make_client, clock):
    """A retried upsert (or PATCH) of values already held: answered as updates, record untouched
    (updatedAt stays), not in the ledger."""
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    rows = [{"serial_number": 3, "city": "Lagos"}, {"serial_number": 901, "name": "n"}]
    await send(client, "POST", MASTERS, rows, 201)
    before = sb.records("master")
    clock.advance(10)
    answer = await send(client, "POST", MASTERS, rows, 201)
    assert answer == {"insertedIds": [], "insertedCount": 0, "updatedCount": 2}
    ref = before[2]["refId"]
    assert await send(client, "PATCH", MASTERS, [{"refId": ref, "city": "Lagos"}]) == {
        "updatedCount": 1
    }
    assert sb.records("master") == before and len(sb.ledger) == 1
    # 5 is not 5.0: a value of another JSON type is a change
    await send(client, "POST", MASTERS, [{"serial_number": 901, "capacity": 5}], 201)
    await send(client, "POST", MASTERS, [{"serial_number": 901, "capacity": 5.0}], 201)
    assert len(sb.ledger) == 3


async def test_write_delay_answers_late_after_the_write_landed(make_client):
    """A client that times out first still finds its write applied."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    response = await client.post("/_sandbox/config", json={"write_delay_ms": 300})
    assert response.status == 200
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            MASTERS,
            json=[{"serial_number": 4242}],
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=0.05),
        )
    assert 4242 in serials(sb)
    assert [w.keys for w in sb.ledger] == [("4242",)]
    started = time.monotonic()
    await send(client, "POST", MASTERS, [{"serial_number": 4242, "city": "Lagos"}], 201)
    assert time.monotonic() - started >= 0.3
    # writes that change nothing are not delayed: a refused one, or a retry of a landed one
    started = time.monotonic()
    await send(client, "POST", MASTERS, [{"serial_number": "x"}], 400)
    await send(client, "POST", MASTERS, [{"serial_number": 4242, "city": "Lagos"}], 201)
    assert time.monotonic() - started < 0.3


async def test_write_fail_after_apply_answers_504_to_writes_that_landed(make_client):
    client = await make_client(write_fail_after_apply=2)
    sb = client.app[EXTO_KEY]
    await send(client, "POST", MASTERS, [{"serial_number": "x"}], 400)  # not applied: no fault
    for serial in (5001, 5002):
        answer = await send(client, "POST", MASTERS, [{"serial_number": serial}], 504)
        assert answer["code"] == 504
        assert answer["error"]["summary"] == "Gateway Timeout"
    assert sb.config.write_fail_after_apply == 0
    assert {5001, 5002} <= set(serials(sb))
    assert [w.keys for w in sb.ledger] == [("5001",), ("5002",)]
    answer = await send(client, "POST", MASTERS, [{"serial_number": 5001}], 201)
    assert answer == {"insertedIds": [], "insertedCount": 0, "updatedCount": 1}
    assert sb.count_status(504) == 2


async def test_writes_need_a_token_and_count_toward_the_rate_limit(make_client, clock):
    client = await make_client(rate_limit=2, clock=clock)
    sb = client.app[EXTO_KEY]
    response = await client.post(MASTERS, json=[{"serial_number": 6001}])
    assert response.status == 401
    await send(client, "GET", MASTERS)
    await send(client, "POST", MASTERS, [{"serial_number": 6002}], 201)
    answer = await send(client, "POST", MASTERS, [{"serial_number": 6003}], 429)
    assert answer["error"]["summary"] == "TOO MANY REQUESTS"
    assert 6001 not in serials(sb) and 6003 not in serials(sb)
    clock.advance(1.0)
    await send(client, "POST", MASTERS, [{"serial_number": 6003}], 201)
    assert [e.status for e in sb.request_log] == [401, 200, 201, 429, 201]


async def test_stats_show_the_write_knobs_but_no_token(make_client):
    client = await make_client(token_users={"sandbox-token": "robot@example.com"})
    raw = await (await client.get("/_sandbox/stats")).read()
    config = orjson.loads(raw)["config"]
    assert config["token_users"] == ["robot@example.com"]
    assert config["unique_fields"] == {
        "LOCATION": ["serial_number"],
        "INSPECTION": ["recordNumber"],
    }
    assert (config["all_or_nothing"], config["hard_delete"]) == (True, False)
    assert b"sandbox-token" not in raw
