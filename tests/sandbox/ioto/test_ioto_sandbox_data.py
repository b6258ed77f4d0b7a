"""Ioto sandbox: item shapes, determinism, generations and the control routes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import orjson

from syncer.sandbox.ioto import IOTO_KEY, GenerationResult, IotoConfig, create_app

ACCOUNT = "01SANDBOXACCOUNT000000000"
GENERIC = "/tok/generic/find"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CLAIM_ID = re.compile(r"[A-Z0-9]{10}")
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
SMALL = IotoConfig(devices=60, store_items=150, logs=150)
DIGEST = """
import hashlib, orjson
from syncer.sandbox.ioto import IOTO_KEY, IotoConfig, create_app
sb = create_app(IotoConfig(devices=300, store_items=400, logs=400))[IOTO_KEY]
sb.generation(5, 1, 1)
print(hashlib.sha256(orjson.dumps([sb.records(m) for m in ("Device", "Store", "Log")])).hexdigest())
"""


def test_item_shapes():
    """Devices, store items and logs carry the documented fields with the documented formats."""
    sb = create_app(SMALL)[IOTO_KEY]
    devices, store, logs = (sb.records(m) for m in ("Device", "Store", "Log"))
    assert (len(devices), len(store), len(logs)) == (60, 150, 150)
    ids = {d["id"] for d in devices}
    for device in devices:
        assert list(device) == [
            "id",
            "accountId",
            "product",
            "productId",
            "model",
            "name",
            "description",
            "connection",
            "state",
            "test",
            "version",
            "created",
            "accessed",
            "updated",
        ]
        assert CLAIM_ID.fullmatch(device["id"]) and device["accountId"] == ACCOUNT
        assert device["connection"] in ("online", "offline")
        assert isinstance(device["test"], bool)
        assert all(TIMESTAMP.fullmatch(device[f]) for f in ("created", "accessed", "updated"))
        assert device["created"] <= device["updated"] <= device["accessed"] < "2025-07-01"
    for entry in store:
        assert set(entry) == {"accountId", "deviceId", "key", "value", "type", "updated", "expires"}
        assert entry["deviceId"] in ids and entry["expires"] is None
        kind = {bool: "boolean", int: "number", float: "number", str: "string", dict: "object"}
        assert kind[type(entry["value"])] == entry["type"]
        assert TIMESTAMP.fullmatch(entry["updated"])
    assert len({(e["deviceId"], e["key"]) for e in store}) == 150
    for log in logs:
        assert ULID.fullmatch(log["id"]) and log["deviceId"] in ids
        assert {"message", "context", "created", "updated", "expires"} <= set(log)
        assert log["context"]["level"] in ("info", "warn", "error")
    by_time = sorted(logs, key=lambda log: log["created"])
    assert [log["id"][:10] for log in by_time] == sorted(log["id"][:10] for log in logs)
    assert len({log["id"] for log in logs}) == 150


async def test_same_seed_same_pages_other_seed_differs(ioto):
    """Two sandboxes with one seed serve byte-identical pages; another seed serves others."""
    first, second, other = await ioto(), await ioto(), await ioto(seed=2)
    for model in ("Device", "Store", "Log"):
        pages = []
        for sandbox in (first, second, other):
            reply = await sandbox.call(GENERIC, {"_type": model}, params={"limit": "1000"})
            pages.append(reply.text)
        assert pages[0] == pages[1]
        assert pages[0] != pages[2]


def test_identical_across_processes():
    """Another interpreter (other hash seed) builds the same data and generation."""
    env = os.environ | {"PYTHONHASHSEED": "123"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", DIGEST],
            env=env | {"PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    ]
    sb = create_app(IotoConfig(devices=300, store_items=400, logs=400))[IOTO_KEY]
    sb.generation(5, 1, 1)
    here = orjson.dumps([sb.records(m) for m in ("Device", "Store", "Log")])
    assert runs[0] == runs[1] == hashlib.sha256(here).hexdigest() + "\n"


def test_generation_changes_deletes_and_inserts():
    """A generation changes, deletes and inserts the given shares per model, stamping
    2025-07-01 + g days, and reports natural keys."""
    sb = create_app(SMALL)[IOTO_KEY]
    before = {m: {_natural(m, i): i for i in sb.records(m)} for m in ("Device", "Store", "Log")}
    result = sb.generation(change_pct=10, delete_pct=5, insert_pct=4)
    assert isinstance(result, GenerationResult) and result.generation == 1
    assert {m: len(keys) for m, keys in result.changed.items()} == {
        "Device": 6,
        "Store": 15,
        "Log": 15,
    }
    assert {m: len(keys) for m, keys in result.deleted.items()} == {
        "Device": 3,
        "Store": 8,
        "Log": 8,
    }
    assert {m: len(keys) for m, keys in result.inserted.items()} == {
        "Device": 2,
        "Store": 6,
        "Log": 6,
    }
    for model in ("Device", "Store", "Log"):
        after = {_natural(model, i): i for i in sb.records(model)}
        assert not set(result.changed[model]) & set(result.deleted[model])
        for key in result.changed[model]:
            assert after[key]["updated"] == "2025-07-02T00:00:00.000Z"
            assert after[key] != before[model][key]
        assert not set(result.deleted[model]) & set(after)
        for key in result.inserted[model]:
            assert key not in before[model] and after[key]["updated"] == "2025-07-02T00:00:00.000Z"
        untouched = set(before[model]) - set(result.changed[model]) - set(result.deleted[model])
        assert all(after[key] == before[model][key] for key in untouched)
    assert sb.generation(0, 0, 0).generation == 2


def test_generations_are_deterministic():
    """The same seed and calls give the same GenerationResult and data."""
    runs = []
    for _ in range(2):
        sb = create_app(SMALL)[IOTO_KEY]
        results = [sb.generation(), sb.generation(3, 2, 1)]
        runs.append((results, [sb.records(m) for m in ("Device", "Store", "Log")]))
    assert runs[0] == runs[1]


async def test_stats_route(ioto):
    """stats: request counts per status, pages served, live counts, generation, knobs."""
    sandbox = await ioto()
    await sandbox.call(GENERIC, {"_type": "Store"})
    await sandbox.call(GENERIC, {"_type": "Store"}, token=None)
    stats = orjson.loads(await (await sandbox.client.get("/_sandbox/stats")).read())
    assert stats["requests"] == 2 and stats["by_status"] == {"200": 1, "403": 1}
    assert stats["pages_served"] == 1
    assert stats["records"] == {"Device": 60, "Store": 150, "Log": 150}
    assert stats["generation"] == 0
    assert stats["config"]["default_limit"] == 100 and "tokens" not in stats["config"]


async def test_generation_route(ioto):
    """POST /_sandbox/generation runs a generation and reports counts and keys per model."""
    sandbox = await ioto()
    response = await sandbox.client.post(
        "/_sandbox/generation", json={"change_pct": 10, "delete_pct": 2, "insert_pct": 2}
    )
    body = orjson.loads(await response.read())
    assert body["generation"] == 1
    assert body["counts"]["Store"] == {"changed": 15, "deleted": 3, "inserted": 3}
    assert len(body["changed"]["Device"]) == 6
    default = orjson.loads(await (await sandbox.client.post("/_sandbox/generation")).read())
    assert default["generation"] == 2
    for bad in ({"change_pct": "x"}, {"bogus": 1}, {"delete_pct": 101}):
        assert (await sandbox.client.post("/_sandbox/generation", json=bad)).status == 400


async def test_config_route_and_control_routes_are_unlogged(ioto, fake_clock):
    """POST /_sandbox/config sets runtime knobs (400 on unknown knobs or bad values); control
    routes need no token, ignore the throttle and stay out of the request log."""
    sandbox = await ioto(rate_limit=1, clock=fake_clock)
    response = await sandbox.client.post(
        "/_sandbox/config", json={"default_limit": 7, "unknown_route_403": True}
    )
    assert orjson.loads(await response.read()) == {"default_limit": 7, "unknown_route_403": True}
    for bad in ({"default_limit": 0}, {"seed": 3}, {"filtered_ratio": 2}, {"latency_ms": "x"}):
        assert (await sandbox.client.post("/_sandbox/config", json=bad)).status == 400
    assert (await sandbox.client.post("/_sandbox/config", data=b"[1]")).status == 400
    for _ in range(3):
        assert (await sandbox.client.get("/_sandbox/stats")).status == 200
    assert sandbox.sb.request_log == []
    assert len((await sandbox.find(GENERIC, {"_type": "Log"}))["data"]) == 7
    assert (await sandbox.client.post("/_sandbox/reset-log")).status == 200
    assert sandbox.sb.request_log == []


def _natural(model, item):
    return f"{item['deviceId']}/{item['key']}" if model == "Store" else item["id"]
