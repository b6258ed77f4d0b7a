"""Schema drift in the master data: type flips (`flip_types`) and hostile field names."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, hostile
from syncer.sandbox.exto.data import ExtoDataset

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
TINY = {"master_records": 300, "module_records": 5, "users": 5}


async def rows(client: Any, **params: str) -> list[dict[str, Any]]:
    """Every master row of one 1,000-row page, parsed by the stdlib's json."""
    response = await client.get(MASTERS, params={"pageSize": "1000", **params}, headers=AUTH)
    assert response.status == 200, (await response.text())[:300]
    body: list[dict[str, Any]] = json.loads(await response.read())["rows"]
    return body


async def test_flip_types_changes_types_and_bumps_updated_at(make_client):
    """Flipped records: latitude a string, opened_on a number, country a boolean; updatedAt one
    generation on, so an updatedAt filter finds exactly them; a second call flips others."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    before = {r["_id"]: r for r in sb.records("master")}
    newest = max(r["updatedAt"] for r in before.values())
    flipped = sb.flip_types(10)
    assert len(flipped) == len(set(flipped)) == 10
    assert sb.data.generation_number == 1
    after = {r["_id"]: r for r in sb.records("master")}
    for object_id, record in after.items():
        old = before[object_id]
        if object_id not in flipped:
            assert record == old
            continue
        custom, was = record["customFields"], old["customFields"]
        assert (
            custom["latitude"] == repr(was["latitude"])
            and float(custom["latitude"]) == (was["latitude"])
        )
        assert custom["opened_on"] == int(was["opened_on"].replace("-", ""))
        assert custom["country"] is True and isinstance(was["country"], str)
        flips = ("latitude", "opened_on", "country")
        unflipped = {k: v for k, v in custom.items() if k not in flips}
        assert unflipped == {k: was[k] for k in unflipped}
        assert record["updatedAt"] > newest and record["updatedAt"].startswith("2025-07-02")
        assert {k: v for k, v in record.items() if k not in ("customFields", "updatedAt")} == {
            k: v for k, v in old.items() if k not in ("customFields", "updatedAt")
        }
    changed = await rows(client, filter=f"updatedAt:gt:{newest}", sort="updatedAt")
    assert [r["_id"] for r in changed] == flipped  # stamped + i ms, in the order flipped
    again = sb.flip_types(10)
    assert len(again) == 10 and not set(again) & set(flipped)
    assert sb.stats()["type_flipped"] == 20 and sb.stats()["generation"] == 2
    last = {r["_id"]: r["updatedAt"] for r in sb.records("master")}
    assert min(last[i] for i in again) > max(last[i] for i in flipped)


async def test_flip_types_route(make_client):
    """POST /_sandbox/flip-types {"count": N} flips N and answers their ids; bad bodies 400."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    response = await client.post("/_sandbox/flip-types", json={"count": 3})
    assert response.status == 200
    body = await response.json()
    assert body["generation"] == 1 and body["flipped"] == 3 and len(body["flipped_ids"]) == 3
    records = {r["_id"]: r for r in sb.records("master")}
    assert all(isinstance(records[i]["customFields"]["latitude"], str) for i in body["flipped_ids"])
    for bad in ({"count": -1}, {"count": "3"}, {"count": True}, {"count": 1.5}, {}, [], {"n": 1}):
        response = await client.post("/_sandbox/flip-types", json=bad)
        assert response.status == 400, bad
        assert "error" in await response.json()
    assert (await client.post("/_sandbox/flip-types", data=b"{")).status == 400
    assert sb.data.generation_number == 1


def test_flip_types_is_deterministic_and_spares_poison():
    """One seed flips the same records; poison records are never flipped, and once every good
    record is flipped a call flips none."""
    first, second = (ExtoDataset.build(ExtoConfig(**TINY, poison=True)) for _ in range(2))
    assert first.flip_types(7) == second.flip_types(7)
    assert first.flip_types(5) == second.flip_types(5)
    coll = first.collections[("master", "LOCATION")]
    rest = first.flip_types(1_000)
    assert len(rest) == 301 - len(coll.poison) - 12
    assert first.flip_types(1) == []
    for seq in coll.seqs():
        record = coll.get(seq)
        assert isinstance(record["customFields"]["latitude"], str) != (seq in coll.poison)
    with pytest.raises(ValueError):
        first.flip_types(-1)


def test_hostile_names_are_distinct_deterministic_and_cover_each_category():
    """N distinct names, the same for a seed; no NUL or lone surrogate; every category."""
    names = hostile.names(1, 150)
    assert len(names) == len(set(names)) == 150
    assert names == hostile.names(1, 150)
    assert names != hostile.names(2, 150) and names[: len(hostile.CORE)] == hostile.CORE
    assert hostile.names(1, 10) == hostile.CORE[:10] and hostile.names(1, 0) == ()
    for name in names:
        name.encode("utf-8")  # no lone surrogate
        assert "\u0000" not in name
    found = set(names)
    sql = {"'; DROP TABLE x; --", '"', "$$", "\\", "%", ";", "/*"}
    reserved = {"select", "from", "table", "user", "order", "group"}
    internal = {"_pk", "_data", "_deleted_at", "oid", "ctid", "xmin"}
    assert sql | reserved | internal | {"Name", "NAME", "name", ""} <= found
    assert any("'" in n for n in names) and any('"' in n and len(n) > 1 for n in names)
    long = [n.encode() for n in names if len(n.encode()) == 200 and not n.isascii()]
    assert len(long) >= 2
    wide = [n.encode() for n in names if len(n.encode()) > 70]
    assert any(a != b and a[:70] == b[:70] for a in wide for b in wide)
    for char in (" ", "\t", "\n", ".", "/"):
        assert any(char in n for n in names), char
    assert any(any(ord(c) >= 0x1F300 for c in n) for n in names)
    assert any(n[:1].isdigit() for n in names)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="hostile_names"):
            ExtoConfig(hostile_names=bad)  # type: ignore[arg-type]


async def test_hostile_names_are_served_on_many_records(make_client):
    """Each master record carries 5 names; every name appears on many records, each name with
    one value type; pages parse with the stdlib's json; existing fields keep their values."""
    client = await make_client(hostile_names=150)
    sb = client.app[EXTO_KEY]
    names = sb.data.hostile_names
    assert names == hostile.names(1, 150)
    assert sb.stats()["config"]["hostile_names"] == 150
    served = await rows(client)
    assert served == sb.records("master")
    plain = await make_client()
    base = sb.records("master"), plain.app[EXTO_KEY].records("master")
    counts: Counter[str] = Counter()
    types: dict[str, set[type]] = {}
    per = hostile.PER_RECORD
    for i, (record, original) in enumerate(zip(*base, strict=True)):
        custom = record["customFields"]
        extra = set(custom) - set(original["customFields"])
        assert extra == {names[(i * per + j) % len(names)] for j in range(per)} - {"name"}
        counts.update(name for name in names if name in custom)
        for name in extra:
            types.setdefault(name, set()).add(type(custom[name]))
        assert {k: custom[k] for k in original["customFields"]} == original["customFields"]
    assert set(counts) == set(names)
    assert min(counts.values()) >= 200 * hostile.PER_RECORD // 150
    assert all(len(kinds) == 1 for kinds in types.values())
    assert orjson.loads(orjson.dumps(served)) == served


async def test_writes_relearn_types_after_a_flip(make_client):
    """A write before a flip learns latitude as a number; after sb.flip_types the master's types
    are learnt again, so a string latitude (the flipped type) is accepted."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    bad = await client.post(MASTERS, json=[{"serial_number": 1, "latitude": "1.5"}], headers=AUTH)
    assert bad.status == 400
    assert (await bad.json())["error"]["detail"] == ["row 1: latitude must be a number"]
    sb.flip_types(5)
    good = await client.post(MASTERS, json=[{"serial_number": 1, "latitude": "1.5"}], headers=AUTH)
    assert good.status == 201, await good.text()
    assert sb.field_types[("master", "LOCATION")]["latitude"] == "any"
