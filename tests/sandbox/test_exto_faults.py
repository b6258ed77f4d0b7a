"""The Exto sandbox's fault switches (docs/sandbox.md "Fault switches"), over real HTTP: the
per-request fault mix, the 429 storm and early requests, token revocation, tied `updatedAt`s."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from email.utils import parsedate_to_datetime

import aiohttp
import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, create_app
from syncer.sandbox.exto.config import FAULT_KINDS

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
PAGE = MASTERS + "?pageSize=7&sort=_id"
READY = "/data/api/v1/health/readiness"
#: the kinds that answer at once (no connection cut, no stall)
QUICK_KINDS = ("500", "502", "503", "truncated", "invalid_json")


async def fault_sequence(client, n, path=PAGE):
    """Send `n` GETs; return the `fault` of each logged entry (None = answered normally)."""
    sb = client.app[EXTO_KEY]
    start = len(sb.request_log)
    for _ in range(n):
        response = await client.get(path, headers=AUTH)
        await response.read()
    return [e.fault for e in sb.request_log[start:]]


# --- the per-request fault mix --------------------------------------------------------------


async def test_fault_rate_injects_about_that_share_uniformly_over_kinds(make_client):
    """fault_rate=0.5 faults about half the requests, spread over fault_kinds; each entry of the
    request log names its fault and the status the client saw."""
    client = await make_client(fault_rate=0.5, fault_seed=7, fault_kinds=QUICK_KINDS)
    faults = await fault_sequence(client, 400)
    injected = [f for f in faults if f is not None]
    assert 160 <= len(injected) <= 240
    by_kind = Counter(injected)
    assert set(by_kind) == set(QUICK_KINDS)
    assert all(20 <= n <= 70 for n in by_kind.values())
    sb = client.app[EXTO_KEY]
    for entry in sb.request_log:
        expected = int(entry.fault) if entry.fault in ("500", "502", "503") else 200
        assert entry.status == expected
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["faults"] == dict(sorted(by_kind.items()))
    log = orjson.loads(await (await client.get("/_sandbox/log")).read())
    assert [e["fault"] for e in log] == faults


async def test_same_seed_same_faults_and_setting_a_knob_restarts_the_sequence(make_client):
    """The sequence of faults depends only on the seed and the order of requests; setting a fault
    knob (even to its value) re-creates the RNG."""
    first = await make_client(fault_rate=0.3, fault_seed=11)
    second = await make_client(fault_rate=0.3, fault_seed=11)
    other = await make_client(fault_rate=0.3, fault_seed=12)
    knobs = {"fault_kinds": list(QUICK_KINDS)}
    for client in (first, second, other):
        assert (await client.post("/_sandbox/config", json=knobs)).status == 200
    one = await fault_sequence(first, 60)
    assert one == await fault_sequence(second, 60)
    assert one != await fault_sequence(other, 60)
    assert any(one)
    first.app[EXTO_KEY].config.fault_seed = 11
    assert await fault_sequence(first, 60) == one


async def test_status_faults_answer_exto_error_bodies(make_client):
    client = await make_client(fault_rate=1.0)
    sb = client.app[EXTO_KEY]
    for kind, summary in (
        ("500", "Service Exception"),
        ("502", "Bad Gateway"),
        ("503", "Service Unavailable"),
    ):
        sb.config.fault_kinds = (kind,)
        response = await client.get(MASTERS, headers=AUTH)
        assert response.status == int(kind)
        assert response.content_type == "application/json"
        body = orjson.loads(await response.read())
        assert set(body) == {"code", "timestamp", "path", "error"}
        assert body["code"] == int(kind)
        assert body["path"] == "/api/v1/master-record/LOCATION"
        assert body["error"]["summary"] == summary
        assert (sb.request_log[-1].status, sb.request_log[-1].fault) == (int(kind), kind)


async def test_reset_cuts_the_connection_without_an_answer(make_client, caplog):
    """A client sees a disconnect; the log shows status 0; the server logs no traceback."""
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    client = await make_client(fault_rate=1.0, fault_kinds=["reset"])
    sb = client.app[EXTO_KEY]
    for method in ("GET", "POST"):
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await client.request(method, MASTERS, headers=AUTH, json=[{"serial_number": 9999}])
    assert [(e.status, e.fault) for e in sb.request_log] == [(0, "reset"), (0, "reset")]
    assert sb.ledger == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    sb.config.fault_rate = 0.0
    assert (await client.get(MASTERS, headers=AUTH)).status == 200


async def test_timeout_stalls_then_answers_normally(make_client):
    """A client with a shorter timeout times out (and its write never lands: nothing is done for
    a client that has gone); one that waits gets the normal answer."""
    client = await make_client(fault_rate=1.0, fault_kinds=["timeout"], fault_timeout_ms=250)
    sb = client.app[EXTO_KEY]
    row = [{"serial_number": 5000, "city": "Lyon"}]
    short = aiohttp.ClientTimeout(total=0.05)
    with pytest.raises(asyncio.TimeoutError):
        await client.post(MASTERS, json=row, headers=AUTH, timeout=short)
    await asyncio.sleep(0.35)
    assert sb.ledger == []
    assert (sb.request_log[-1].status, sb.request_log[-1].fault) == (0, "timeout")
    sb.config.fault_timeout_ms = 30
    started = time.monotonic()
    response = await client.get(PAGE, headers=AUTH)
    assert time.monotonic() - started >= 0.03
    assert response.status == 200
    assert len(orjson.loads(await response.read())["rows"]) == 7
    assert (sb.request_log[-1].status, sb.request_log[-1].fault) == (200, "timeout")


async def test_truncated_is_half_the_normal_body_and_changes_nothing(make_client):
    client = await make_client(churn_inserts_per_page=2, churn_deletes_per_page=1)
    sb = client.app[EXTO_KEY]
    sb.config.apply({"churn_inserts_per_page": 0, "churn_deletes_per_page": 0})
    normal = await (await client.get(PAGE, headers=AUTH)).read()
    sb.config.apply({"churn_inserts_per_page": 2, "churn_deletes_per_page": 1})
    sb.config.fault_rate, sb.config.fault_kinds = 1.0, ("truncated",)
    before = sb.records("master")
    for _ in range(3):
        response = await client.get(PAGE + "&page=2", headers=AUTH)
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.read()
        assert int(response.headers["Content-Length"]) == len(body) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
    assert sb.records("master") == before  # no churn after a faulted page
    response = await client.get(PAGE, headers=AUTH)
    body = await response.read()
    assert body == normal[: len(normal) // 2]
    with pytest.raises(json.JSONDecodeError):
        await response.json()


async def test_invalid_json_is_a_page_start_then_garbage(make_client):
    client = await make_client(fault_rate=1.0, fault_kinds=["invalid_json"])
    response = await client.get(PAGE, headers=AUTH)
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.read()
    assert body.startswith(b'{"rows": [{"_id": ')
    assert int(response.headers["Content-Length"]) == len(body)
    with pytest.raises(json.JSONDecodeError):
        await response.json()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)


async def test_faulted_writes_change_nothing(make_client):
    """Faults are decided before the write: no kind but a waited-out timeout applies it."""
    client = await make_client(fault_rate=1.0, fault_kinds=[*QUICK_KINDS, "reset"])
    sb = client.app[EXTO_KEY]
    before = sb.records("master")
    ref = before[0]["refId"]
    writes = [
        ("POST", [{"serial_number": 7777, "city": "Pune"}]),
        ("POST", [{"serial_number": 3, "city": "Pune"}]),
        ("PATCH", [{"refId": ref, "city": "Quito"}]),
        ("DELETE", [{"refId": ref}]),
    ]
    seen = Counter()
    for _ in range(6):
        for method, rows in writes:
            try:
                response = await client.request(method, MASTERS, json=rows, headers=AUTH)
                seen[response.status] += 1
                await response.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                seen["reset"] += 1
    assert sb.ledger == []
    assert sb.records("master") == before
    assert {e.fault for e in sb.request_log} == {*QUICK_KINDS, "reset"}
    assert seen["reset"] > 0 and seen[200] > 0 and seen[500] > 0


async def test_faults_count_against_the_rate_limit_and_spare_other_routes(make_client, clock):
    client = await make_client(rate_limit=2, fault_rate=1.0, fault_kinds=["503"], clock=clock)
    sb = client.app[EXTO_KEY]
    statuses = [(await client.get(MASTERS, headers=AUTH)).status for _ in range(3)]
    assert statuses == [503, 503, 429]
    assert [e.fault for e in sb.request_log] == ["503", "503", None]
    assert sb.max_in_window("sandbox-token") == 2
    assert (await client.get(READY)).status == 200  # health: never faulted
    assert (await client.get("/_sandbox/stats")).status == 200
    assert (await client.get(MASTERS)).status == 401  # no token: refused before any fault


async def test_fault_knobs_are_validated(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    for bad in (
        {"fault_rate": 1.5},
        {"fault_rate": "x"},
        {"storm_rate": -0.1},
        {"fault_kinds": ["boom"]},
        {"fault_kinds": "500"},
        {"fault_seed": 1.5},
        {"fault_timeout_ms": -1},
        {"revoked_tokens": "sandbox-token"},
        {"revoked_tokens": [1]},
        {"revoke_after": -1},
        {"tied_updated_at": 3},
    ):
        assert (await client.post("/_sandbox/config", json=bad)).status == 400, bad
    response = await client.post(
        "/_sandbox/config",
        json={"fault_rate": 1, "fault_kinds": [500, "reset", "500"], "fault_seed": -3},
    )
    assert orjson.loads(await response.read()) == {
        "fault_rate": 1.0,
        "fault_kinds": ["500", "reset"],
        "fault_seed": -3,
    }
    with pytest.raises(ValueError):
        sb.config.fault_rate = 2
    with pytest.raises(ValueError):
        sb.config.fault_kinds = ("nope",)
    with pytest.raises(ValueError):
        ExtoConfig(master_records=10, tied_updated_at=11)
    assert ExtoConfig().fault_kinds == FAULT_KINDS


# --- the 429 storm ---------------------------------------------------------------------------


async def test_storm_answers_429_with_retry_after_variants_in_proportion(make_client, clock):
    """Storm 429s carry Exto's error body and Retry-After: 1 or 2 (half), an HTTP-date 1-2 s
    ahead (a quarter), or nothing (a quarter)."""
    client = await make_client(storm_rate=1.0, fault_seed=5, clock=clock)
    variants: Counter[str] = Counter()
    for _ in range(400):
        response = await client.get(MASTERS, headers=AUTH)
        assert response.status == 429
        body = orjson.loads(await response.read())
        assert body["code"] == 429
        assert body["error"]["summary"] == "TOO MANY REQUESTS"
        value = response.headers.get("Retry-After")
        if value is None:
            variants["none"] += 1
        elif value in ("1", "2"):
            variants[value] += 1
        else:
            ahead = parsedate_to_datetime(value).timestamp() - time.time()
            assert 0.5 <= ahead <= 2.0, value
            assert value.endswith(" GMT")
            variants["date"] += 1
    assert 160 <= variants["1"] + variants["2"] <= 240
    assert variants["1"] >= 60 and variants["2"] >= 60
    assert 70 <= variants["date"] <= 130
    assert 70 <= variants["none"] <= 130
    sb = client.app[EXTO_KEY]
    assert {e.fault for e in sb.request_log} == {"storm"}
    assert sb.early_requests("sandbox-token") == 0  # every request left at the same instant


async def test_storm_share_and_the_limiter_does_not_count_storm_429s(make_client, clock):
    client = await make_client(storm_rate=0.25, fault_seed=3, rate_limit=3, clock=clock)
    sb = client.app[EXTO_KEY]
    stormed = 0
    for _ in range(300):
        clock.advance(1.0)  # a fresh window each time: only the storm refuses
        stormed += (await client.get(MASTERS, headers=AUTH)).status == 429
    assert 50 <= stormed <= 100
    assert sb.count_status(429) == stormed
    clock.advance(1.0)
    sb.config.storm_rate = 1.0
    for _ in range(5):
        assert (await client.get(MASTERS, headers=AUTH)).status == 429
    sb.config.storm_rate = 0.0
    statuses = [(await client.get(MASTERS, headers=AUTH)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # the storm's 429s took no slot in the window
    assert sb.max_in_window("sandbox-token") == 3
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["by_status"]["429"] == stormed + 6
    assert stats["faults"] == {"storm": stormed + 5}
    assert stats["max_in_window"] == {"sandbox-token": 3}


async def storm_until(client, clock, wanted):
    """Storm every request until a 429 whose Retry-After satisfies `wanted`; return that value.

    Between tries the clock moves 3 s on, so earlier Retry-Afters have expired."""
    sb = client.app[EXTO_KEY]
    sb.config.storm_rate = 1.0
    for _ in range(50):
        clock.advance(3.0)
        response = await client.get(MASTERS, headers=AUTH)
        value = response.headers.get("Retry-After")
        if value is not None and wanted(value):
            sb.config.storm_rate = 0.0
            return value
    raise AssertionError("no such Retry-After")


async def test_requests_before_a_retry_after_are_counted_early(make_client, clock):
    client = await make_client(fault_seed=2, clock=clock)
    sb = client.app[EXTO_KEY]
    await storm_until(client, clock, lambda value: value == "1")
    clock.advance(0.04)  # already in flight when the 429 left: not early
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert sb.early_requests("sandbox-token") == 0
    clock.advance(0.2)  # 0.24 s after a Retry-After: 1
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert sb.early_requests("sandbox-token") == 1
    clock.advance(0.8)  # 1.04 s after: waited long enough
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert sb.early_requests("sandbox-token") == 1

    await storm_until(client, clock, lambda value: not value.isdigit())  # an HTTP-date
    clock.advance(0.5)
    await client.get(MASTERS, headers=AUTH)
    assert sb.early_requests("sandbox-token") == 2
    clock.advance(1.6)  # past any date 1-2 s ahead
    await client.get(MASTERS, headers=AUTH)
    assert sb.early_requests("sandbox-token") == 2

    sb.config.apply({"rate_limit": 1, "retry_after": True})  # the limiter's Retry-After too
    clock.advance(3.0)
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    refused = await client.get(MASTERS, headers=AUTH)
    assert refused.headers["Retry-After"] == "1"
    clock.advance(0.5)
    assert (await client.get(MASTERS, headers=AUTH)).status == 429  # early, and refused again
    assert sb.early_requests("sandbox-token") == 3
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["early_requests"] == {"sandbox-token": 3}


# --- revocation ------------------------------------------------------------------------------


async def test_revoked_tokens_get_the_unknown_token_401(make_client):
    client = await make_client(tokens=("a", "b"))
    headers = {"Authorization": "Bearer a"}
    response = await client.post("/_sandbox/config", json={"revoked_tokens": ["a"]})
    assert response.status == 200
    for method, path in (("GET", MASTERS), ("POST", MASTERS), ("GET", "/data/api/v1/user/groups")):
        refused = await client.request(method, path, headers=headers, json=[{"serial_number": 1}])
        assert refused.status == 401
        body = orjson.loads(await refused.read())
        assert body["error"] == {
            "summary": "Unauthorized",
            "detail": ["Invalid authentication token."],
        }
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer b"})).status == 200
    assert (await client.get(READY)).status == 200
    client.app[EXTO_KEY].config.revoked_tokens = ()
    assert (await client.get(MASTERS, headers=headers)).status == 200


async def test_revoke_after_n_lets_exactly_n_requests_through(make_client):
    client = await make_client(revoke_after=2)
    statuses = [(await client.get(MASTERS, headers=AUTH)).status for _ in range(4)]
    assert statuses == [200, 200, 401, 401]
    assert client.app[EXTO_KEY].config.revoked_tokens == ("sandbox-token",)


async def test_revoke_after_skips_faulted_requests_and_revokes_every_token(make_client):
    """With revoke_after=N, the (N+1)th data request answered normally is refused, for every
    token; faulted requests do not count down."""
    client = await make_client(tokens=("sandbox-token", "other"), revoke_after=4)
    sb = client.app[EXTO_KEY]
    statuses = [(await client.get(MASTERS, headers=AUTH)).status for _ in range(3)]
    sb.config.fault_rate, sb.config.fault_kinds = 1.0, ("503",)
    statuses.append((await client.get(MASTERS, headers=AUTH)).status)
    sb.config.fault_rate = 0.0
    statuses += [(await client.get(MASTERS, headers=AUTH)).status for _ in range(3)]
    assert statuses == [200, 200, 200, 503, 200, 401, 401]
    assert sb.config.revoke_after == 0
    assert set(sb.config.revoked_tokens) == {"sandbox-token", "other"}
    assert (await client.get(MASTERS, headers={"Authorization": "Bearer other"})).status == 401
    assert [e.status for e in sb.request_log][-3:] == [401, 401, 401]
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["config"]["revoked_tokens"] == 2  # a count: tokens are not shown


# --- tied updatedAt --------------------------------------------------------------------------


async def test_tied_updated_at_gives_a_run_of_records_one_updated_at(make_client):
    """The run starts at the middle of `_id` order; only its `updatedAt`s differ from the dataset
    built without the knob; the same config builds the same data."""
    knobs = {"master_records": 200, "module_records": 50, "users": 30, "projects": 12}
    client = await make_client(**knobs, tied_updated_at=25)
    response = await client.get(MASTERS + "?pageSize=1000&sort=_id", headers=AUTH)
    rows = orjson.loads(await response.read())["rows"]
    tied = rows[100]["updatedAt"]
    assert Counter(r["updatedAt"] for r in rows)[tied] == 25
    assert [r["updatedAt"] == tied for r in rows] == [100 <= i < 125 for i in range(200)]
    assert all(r["createdAt"] <= r["updatedAt"] for r in rows)
    assert tied == max(r["updatedAt"] for r in rows[100:125])
    same = create_app(ExtoConfig(**knobs, tied_updated_at=25))[EXTO_KEY]
    assert same.records("master") == client.app[EXTO_KEY].records("master")
    plain = create_app(ExtoConfig(**knobs))[EXTO_KEY]
    untied = sorted(plain.records("master"), key=lambda r: r["_id"])
    assert [r["_id"] for r in untied] == [r["_id"] for r in rows]
    for i, (before, after) in enumerate(zip(untied, rows, strict=True)):
        assert before | {"updatedAt": tied if 100 <= i < 125 else before["updatedAt"]} == after
    assert tied in {r["updatedAt"] for r in untied[100:125]}


async def test_tied_run_moves_back_to_fit_and_can_cover_everything(make_client):
    sb = create_app(ExtoConfig(master_records=40, module_records=5, tied_updated_at=40))[EXTO_KEY]
    assert len({r["updatedAt"] for r in sb.records("master")}) == 1
    sb = create_app(ExtoConfig(master_records=40, module_records=5, tied_updated_at=30))[EXTO_KEY]
    ordered = sorted(sb.records("master"), key=lambda r: r["_id"])
    tied = ordered[10]["updatedAt"]
    assert [r["updatedAt"] == tied for r in ordered] == [i >= 10 for i in range(40)]
