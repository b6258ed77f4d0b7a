"""Ioto sandbox: generic create (upsert, exists), update, remove and get, and the write ledger."""

from __future__ import annotations

import re

import orjson
import pytest
from ioto_support import CREATE, FIND, GET, REMOVE, UPDATE, a_device, store

from syncer.sandbox.ioto import AppliedWrite

ACCOUNT = "01SANDBOXACCOUNT000000000"
T0 = "2025-07-01T00:00:00.000Z"
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


async def ok(sandbox, path, body, **query):
    """A write route call that must answer 200 JSON; its `data`."""
    reply = await sandbox.call(path, body, params=query or None)
    assert (reply.status, reply.content_type) == (200, "application/json"), reply.text
    return reply.json()["data"]


async def refused(sandbox, path, body, status=400, **query):
    """A call that must fail with `status` text/plain; its message."""
    reply = await sandbox.call(path, body, params=query or None)
    assert (reply.status, reply.content_type) == (status, "text/plain"), reply.text
    return reply.text


async def test_upsert_inserts_then_replaces(ioto, fake_clock):
    """create?exists=null inserts a new key (ledger created=True), then replaces it (created=False),
    stamping `updated` with sandbox time; the answer is the stored item."""
    sandbox = await ioto(clock=fake_clock)
    device = a_device(sandbox)
    first = await ok(sandbox, CREATE, store(device, value=1), exists="null")
    assert first == {
        "deviceId": device,
        "key": "zz.test",
        "accountId": ACCOUNT,
        "value": 1,
        "type": "number",
        "expires": None,
        "updated": T0,
    }
    fake_clock.advance(2.5)
    second = await ok(sandbox, CREATE, store(device, value=7), exists="null")
    assert second["value"] == 7 and second["updated"] == "2025-07-01T00:00:02.500Z"
    key = f"{device}/zz.test"
    assert sandbox.sb.ledger == [
        AppliedWrite(1000.0, "create", "Store", key, True),
        AppliedWrite(1002.5, "create", "Store", key, False),
    ]
    assert (
        await ok(sandbox, GET, {"_type": "Store", "deviceId": device, "key": "zz.test"}) == second
    )


async def test_exists_absent_or_in_params_and_the_request_log(ioto):
    """No `exists` is an upsert too; `_params.exists` works; the query string wins; the request
    log records the `exists` used; anything but true/false/null → 400."""
    sandbox = await ioto()
    device = a_device(sandbox)
    await ok(sandbox, CREATE, store(device))
    await ok(sandbox, CREATE, store(device) | {"_params": {"exists": True}})
    await ok(sandbox, CREATE, store(device) | {"_params": {"exists": False}}, exists="null")
    assert [w.created for w in sandbox.sb.ledger] == [True, False, False]
    assert [e.query for e in sandbox.sb.request_log] == [{}, {"exists": "true"}, {"exists": "null"}]
    for bad in ("yes", "1"):
        assert "exists" in await refused(sandbox, CREATE, store(device), exists=bad)
    await refused(sandbox, CREATE, store(device) | {"_params": {"exists": 1}})
    await refused(sandbox, CREATE, store(device) | {"_params": [1]})


async def test_exists_true_needs_the_item_and_exists_false_refuses_it(ioto):
    """exists=true on a missing item and exists=false on a present one → 400 text, nothing
    applied; the other two combinations write."""
    sandbox = await ioto()
    device = a_device(sandbox)
    message = await refused(sandbox, CREATE, store(device, key="new"), exists="true")
    assert "exists=true" in message
    assert sandbox.sb.ledger == []
    await ok(sandbox, CREATE, store(device, key="new"), exists="false")
    assert "already exists" in await refused(
        sandbox, CREATE, store(device, key="new"), exists="false"
    )
    await ok(sandbox, CREATE, store(device, key="new", value=5), exists="true")
    assert [(w.operation, w.created) for w in sandbox.sb.ledger] == [
        ("create", True),
        ("create", False),
    ]


async def test_read_only_attributes_are_400_text(ioto):
    """accountId, created and updated in a create or update → 400 text naming them; deviceId in
    an update → 400 unless it is part of the key (Store)."""
    sandbox = await ioto()
    device = a_device(sandbox)
    log = sandbox.sb.records("Log")[0]
    for name in ("accountId", "created", "updated"):
        assert name in await refused(sandbox, CREATE, store(device) | {name: "x"})
        assert name in await refused(sandbox, UPDATE, store(device) | {name: "x"})
    assert "deviceId" in await refused(
        sandbox, UPDATE, {"_type": "Log", "id": log["id"], "deviceId": log["deviceId"]}
    )
    assert "deviceId" in await refused(
        sandbox, UPDATE, {"_type": "Device", "id": device, "deviceId": device}
    )
    assert sandbox.sb.ledger == []
    entry = sandbox.sb.records("Store")[0]
    changed = await ok(
        sandbox,
        UPDATE,
        {"_type": "Store", "deviceId": entry["deviceId"], "key": entry["key"], "value": -1},
    )
    assert changed["value"] == -1


async def test_create_validates_keys_required_attributes_and_types(ioto):
    """A missing or non-string key attribute, a missing required attribute, an unknown model or
    a bad `expires` → 400 text."""
    sandbox = await ioto()
    device = a_device(sandbox)
    bodies = [
        {"_type": "Store", "deviceId": device, "value": 1, "type": "number"},
        store(device, key=""),
        store(device, key=3),
        {"_type": "Store", "deviceId": device, "key": "k", "type": "number"},
        store(device, value=None),
        {"_type": "Log", "message": "no device"},
        {"_type": "Nope"},
        {"deviceId": device},
        store(device, expires="tomorrow"),
        store(device, expires="2030-01-01T00:00:00"),
        {"_type": "Device", "id": "NEWDEVICE1", "deviceId": "OTHER"},
    ]
    for body in bodies:
        await refused(sandbox, CREATE, body)
    assert sandbox.sb.ledger == []


async def test_log_and_device_creates(ioto, fake_clock):
    """A Log created without an id gets a ULID at sandbox time, with `created` = `updated` and
    schema defaults; a Device created with a new id is claimed, so store items may name it."""
    sandbox = await ioto(clock=fake_clock)
    device = a_device(sandbox)
    log = await ok(sandbox, CREATE, {"_type": "Log", "deviceId": device, "message": "hello"})
    assert ULID.fullmatch(log["id"]) and log["id"][:10] == "01JZ1MH200"
    assert log | {"id": "x"} == {
        "id": "x",
        "accountId": ACCOUNT,
        "deviceId": device,
        "message": "hello",
        "context": {},
        "expires": None,
        "created": T0,
        "updated": T0,
    }
    await refused(sandbox, CREATE, store("NEWDEVICE1"), status=403)
    new = await ok(sandbox, CREATE, {"_type": "Device", "id": "NEWDEVICE1", "name": "bench"})
    assert new == {
        "id": "NEWDEVICE1",
        "accountId": ACCOUNT,
        "name": "bench",
        "created": T0,
        "updated": T0,
    }
    fake_clock.advance(1)
    again = await ok(sandbox, CREATE, {"_type": "Device", "id": "NEWDEVICE1", "name": "lab"})
    assert again["created"] == T0 and again["updated"] == "2025-07-01T00:00:01.000Z"
    await ok(sandbox, CREATE, store("NEWDEVICE1"))
    assert [(w.model, w.key, w.created) for w in sandbox.sb.ledger] == [
        ("Log", log["id"], True),
        ("Device", "NEWDEVICE1", True),
        ("Device", "NEWDEVICE1", False),
        ("Store", "NEWDEVICE1/zz.test", True),
    ]


async def test_update_merges_into_an_existing_item(ioto, fake_clock):
    """update changes only the attributes sent and stamps `updated`; a missing item or key
    attribute → 400 text; a Log moves to no other device."""
    sandbox = await ioto(clock=fake_clock)
    device = sandbox.sb.records("Device")[3]
    fake_clock.advance(60)
    changed = await ok(sandbox, UPDATE, {"_type": "Device", "id": device["id"], "state": "retired"})
    assert changed == device | {"state": "retired", "updated": "2025-07-01T00:01:00.000Z"}
    log = sandbox.sb.records("Log")[0]
    changed_log = await ok(sandbox, UPDATE, {"_type": "Log", "id": log["id"], "message": "edited"})
    assert changed_log["deviceId"] == log["deviceId"] and changed_log["message"] == "edited"
    assert sandbox.sb.ledger == [
        AppliedWrite(1060.0, "update", "Device", device["id"], False),
        AppliedWrite(1060.0, "update", "Log", log["id"], False),
    ]
    assert "Cannot find" in await refused(sandbox, UPDATE, store(device["id"], key="missing"))
    assert "Cannot find" in await refused(sandbox, UPDATE, {"_type": "Device", "id": "NOSUCHDEV1"})
    await refused(sandbox, UPDATE, {"_type": "Store", "deviceId": device["id"], "value": 1})
    entry = sandbox.sb.records("Store")[0]
    body = {"_type": "Store", "deviceId": entry["deviceId"], "key": entry["key"], "value": None}
    assert "value" in await refused(sandbox, UPDATE, body)
    other = next(d["id"] for d in sandbox.sb.records("Device") if d["id"] != log["deviceId"])
    moved = {"_type": "Log", "id": log["id"], "deviceId": other, "message": "m"}
    assert "deviceId" in await refused(sandbox, CREATE, moved)
    assert len(sandbox.sb.ledger) == 2


async def test_remove_and_get(ioto):
    """remove answers the removed item (ledger entry) or null when there is none (no entry);
    get answers one item by key, or null when it is missing or fails a filter attribute."""
    sandbox = await ioto()
    entry = sandbox.sb.records("Store")[5]
    key = {"_type": "Store", "deviceId": entry["deviceId"], "key": entry["key"]}
    assert await ok(sandbox, GET, key) == entry
    assert await ok(sandbox, GET, key | {"type": entry["type"]}) == entry
    assert await ok(sandbox, GET, key | {"type": "nope"}) is None
    assert await ok(sandbox, REMOVE, key) == entry
    assert await ok(sandbox, GET, key) is None
    assert await ok(sandbox, REMOVE, key) is None
    log = sandbox.sb.records("Log")[0]
    assert await ok(sandbox, GET, {"_type": "Log", "id": log["id"]}) == log
    assert (
        await ok(sandbox, GET, {"_type": "Log", "id": log["id"], "deviceId": log["deviceId"]})
        == log
    )
    other = next(d["id"] for d in sandbox.sb.records("Device") if d["id"] != log["deviceId"])
    assert await ok(sandbox, REMOVE, {"_type": "Log", "id": log["id"], "deviceId": other}) is None
    assert await ok(sandbox, REMOVE, {"_type": "Log", "id": log["id"]}) == log
    assert [(w.operation, w.model) for w in sandbox.sb.ledger] == [
        ("remove", "Store"),
        ("remove", "Log"),
    ]
    assert entry not in sandbox.sb.records("Store")
    await refused(sandbox, GET, {"_type": "Store", "deviceId": entry["deviceId"]})
    await refused(sandbox, REMOVE, {"_type": "Log"})


@pytest.mark.parametrize("path", [CREATE, UPDATE, REMOVE, GET])
async def test_foreign_and_unclaimed_devices_are_403_text(ioto, path):
    """A deviceId another account claims (foreign_devices) or no device of the account → 403
    text (not the auth message); nothing is applied."""
    sandbox = await ioto(foreign_devices=("FOREIGN001",))
    for device in ("FOREIGN001", "UNKNOWN001"):
        message = await refused(sandbox, path, store(device), status=403)
        assert message == f"Device {device} is not claimed by this account"
    await refused(sandbox, path, {"_type": "Device", "id": "FOREIGN001"}, status=403)
    assert sandbox.sb.ledger == []


async def test_default_foreign_devices_and_knob(ioto):
    """The default foreign_devices are two claim ids; the knob changes at runtime."""
    sandbox = await ioto()
    foreign = sandbox.sb.config.foreign_devices
    assert len(foreign) == 2 and all(re.fullmatch(r"[A-Z0-9]{10}", d) for d in foreign)
    await refused(sandbox, CREATE, {"_type": "Device", "id": foreign[0]}, status=403)
    device = a_device(sandbox)
    response = await sandbox.client.post("/_sandbox/config", json={"foreign_devices": [device]})
    assert orjson.loads(await response.read()) == {"foreign_devices": [device]}
    await refused(sandbox, CREATE, store(device), status=403)
    for bad in ({"foreign_devices": "X"}, {"foreign_devices": [1]}, {"foreign_devices": [""]}):
        assert (await sandbox.client.post("/_sandbox/config", json=bad)).status == 400


async def test_writes_need_auth_and_post(ioto):
    """Write routes share the find routes' auth (403 text) and POST-only routing (400 text)."""
    sandbox = await ioto()
    body = store(a_device(sandbox))
    reply = await sandbox.call(CREATE, body, token="wrong")
    assert (reply.status, reply.content_type, reply.text) == (
        403,
        "text/plain",
        "Authentication failed",
    )
    reply = await sandbox.call(GET, body, method="GET")
    assert (reply.status, reply.content_type) == (400, "text/plain")
    assert sandbox.sb.ledger == []


async def test_find_sees_writes_at_once_in_key_order(ioto):
    """Items written are served by the next find, in (pk, sk) order; removed ones are gone."""
    sandbox = await ioto()
    device = a_device(sandbox)
    for key in ("m.write", "a.write", "z.write"):
        await ok(sandbox, CREATE, store(device, key=key))
    found = await sandbox.find(
        FIND, {"_type": "Store", "deviceId": device, "_params": {"limit": 1000}}
    )
    keys = [item["key"] for item in found["data"]]
    assert keys == sorted(keys) and {"a.write", "m.write", "z.write"} <= set(keys)
    await ok(sandbox, REMOVE, {"_type": "Store", "deviceId": device, "key": "m.write"})
    scanned = [
        item for page in await sandbox.scan(FIND, {"_type": "Store"}, 40) for item in page["data"]
    ]
    assert scanned == sandbox.sb.records("Store")
    assert ("a.write" in {i["key"] for i in scanned}) and (
        "m.write" not in {i["key"] for i in scanned}
    )


async def test_ledger_route_reset_and_stats(ioto, fake_clock):
    """GET /_sandbox/ledger lists the applied writes; stats counts them; reset empties it."""
    sandbox = await ioto(clock=fake_clock)
    device = a_device(sandbox)
    await ok(sandbox, CREATE, store(device))
    await ok(sandbox, GET, {"_type": "Store", "deviceId": device, "key": "zz.test"})
    ledger = orjson.loads(await (await sandbox.client.get("/_sandbox/ledger")).read())
    key = f"{device}/zz.test"
    assert ledger == [
        {"at": 1000.0, "operation": "create", "model": "Store", "key": key, "created": True}
    ]
    stats = orjson.loads(await (await sandbox.client.get("/_sandbox/stats")).read())
    assert stats["ledger"] == 1 and stats["records"]["Store"] == 151
    assert (await sandbox.client.post("/_sandbox/reset-ledger")).status == 200
    assert sandbox.sb.ledger == []
    sandbox.sb.put("create", "Store", {"accountId": ACCOUNT} | store(device, key="direct"))
    sandbox.sb.reset_ledger()
    assert sandbox.sb.ledger == []


async def test_command_writes_fill_an_empty_model(ioto):
    """Command holds no generated data; a create (id made by the sandbox, `args` defaulted) is
    found by generic/find and removed by id."""
    sandbox = await ioto()
    device = a_device(sandbox)
    await refused(sandbox, CREATE, {"_type": "Command", "deviceId": device})
    command = await ok(
        sandbox, CREATE, {"_type": "Command", "deviceId": device, "command": "reboot"}
    )
    assert ULID.fullmatch(command["id"]) and command["args"] == {}
    assert (await sandbox.find(FIND, {"_type": "Command"}))["data"] == [command]
    assert await ok(sandbox, REMOVE, {"_type": "Command", "id": command["id"]}) == command
    assert sandbox.sb.records("Command") == []
