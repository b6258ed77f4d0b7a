"""The dataset: shape, determinism, generations, churn and poison records."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig
from syncer.sandbox.exto.data import ExtoDataset

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def page(client, path=MASTERS, **params):
    response = await client.get(path, params=params, headers=AUTH)
    assert response.status == 200, (await response.text())[:300]
    return await response.read()


def test_record_shape():
    """Records look like vendors.md §2.3: ObjectId _id == id, 7-char slug, ISO times."""
    data = ExtoDataset.build(ExtoConfig(master_records=300, module_records=100, users=20))
    masters = data.collections[("master", "LOCATION")].records()
    modules = data.collections[("module", "INSPECTION")].records()
    for rec in masters + modules:
        assert OBJECT_ID.fullmatch(rec["_id"]) and rec["id"] == rec["_id"]
        assert rec["slug"] == rec["refId"] and len(rec["slug"]) == 7
        assert TIMESTAMP.fullmatch(rec["createdAt"]) and TIMESTAMP.fullmatch(rec["updatedAt"])
        assert "2024-01-01" <= rec["createdAt"] <= rec["updatedAt"] < "2025-07-01"
        assert rec["parentID"] is None and rec["isDeleted"] is False
        assert rec["createdBy"].endswith("@example.com")
    assert len({r["_id"] for r in masters + modules}) == 400
    assert len({r["projectID"] for r in masters}) == 3
    serials = [r["customFields"]["serial_number"] for r in masters]
    assert len(set(serials)) == 300
    custom = masters[0]["customFields"]
    assert isinstance(custom["latitude"], float) and isinstance(custom["capacity"], int)
    assert isinstance(custom["tags"], list) and isinstance(custom["active"], bool)
    assert set(custom["budget"]) == {"label", "value", "currency"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", custom["opened_on"])
    assert any(r["customFields"]["manager"] is None for r in masters)
    assert modules[0]["customFields"]["recordNumber"] == "INSP-1"


async def test_same_seed_same_pages_other_seed_differs(make_client):
    """Two sandboxes with one seed serve byte-identical pages; another seed serves others."""
    first, second, other = (
        await make_client(),
        await make_client(),
        await make_client(seed=2),
    )
    for params in ({"page": "2", "pageSize": "50"}, {"sort": "-updatedAt", "pageSize": "30"}):
        assert await page(first, **params) == await page(second, **params)
        assert await page(first, **params) != await page(other, **params)
    users = "/data/api/v1/user/user-access"
    assert await page(first, users) == await page(second, users)


def test_dataset_is_identical_across_processes():
    """The data does not depend on the process (hash seed) or the wall clock."""
    script = (
        "import hashlib, orjson\n"
        "from syncer.sandbox.exto import ExtoConfig\n"
        "from syncer.sandbox.exto.data import ExtoDataset\n"
        "d = ExtoDataset.build(ExtoConfig(master_records=500, module_records=50, users=20))\n"
        "d.generation(5, 1, 1)\n"
        "rows = [c.records() for c in d.collections.values()] + [d.users, d.projects]\n"
        "print(hashlib.sha256(orjson.dumps(rows)).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env=os.environ | {"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


async def test_generation_changes_deletes_and_inserts(make_client):
    """A generation changes, deletes and inserts its share; the API shows it at once."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    before = {r["_id"]: r for r in sb.records("master") + sb.records("module")}
    newest = max(r["updatedAt"] for r in before.values())
    result = sb.generation(change_pct=10, delete_pct=5, insert_pct=5)
    # master 200 -> 20 / 10 / 10; module 50 -> 5 / 3 / 3 (2.5 rounds half up)
    assert (len(result.changed), len(result.deleted), len(result.inserted)) == (
        25,
        13,
        13,
    )
    assert result.generation == 1
    after = {r["_id"]: r for r in sb.records("master") + sb.records("module")}
    assert not set(result.deleted) & set(after)
    assert set(result.inserted) <= set(after)
    assert not set(result.changed) & set(result.deleted)
    for object_id in result.changed:
        old, new = before[object_id], after[object_id]
        assert new["updatedAt"] > newest and new["updatedAt"].startswith("2025-07-02")
        assert new["createdAt"] == old["createdAt"]
        for identity in ("serial_number", "recordNumber", "city"):
            assert new["customFields"].get(identity) == old["customFields"].get(identity)
    for object_id in result.inserted:
        assert after[object_id]["createdAt"] == after[object_id]["updatedAt"] > newest
    body = orjson.loads(await page(client, pageSize="1000"))
    assert body["total"] == 200
    assert {r["_id"] for r in body["rows"]} == {r["_id"] for r in sb.records("master")}
    second = sb.generation(change_pct=1, delete_pct=0, insert_pct=0)
    assert second.generation == 2 and len(second.changed) == 3


def test_generation_is_deterministic():
    """The same seed and generation number pick the same records."""
    results = []
    for _ in range(2):
        data = ExtoDataset.build(ExtoConfig(master_records=300, module_records=30, users=10))
        results.append((data.generation(3, 2, 1), data.generation(3, 2, 1)))
    assert results[0] == results[1]


async def test_sorted_pages_follow_generation_changes(make_client):
    """After a generation, updatedAt-sorted pages reflect the new order (caches kept correct)."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    await page(client, sort="updatedAt")
    result = sb.generation(change_pct=2, delete_pct=1, insert_pct=1)
    rows = orjson.loads(await page(client, sort="-updatedAt", pageSize="1000"))["rows"]
    expected = sorted(sb.records("master"), key=lambda r: (r["updatedAt"], r["_id"]), reverse=True)
    assert rows == expected
    assert rows[0]["_id"] in result.inserted


async def test_churn_inserts_shift_offsets_back(make_client):
    """Inserts after a page sort first, so the next page repeats the previous page's last row."""
    client = await make_client(churn_inserts_per_page=1)
    first = orjson.loads(await page(client, sort="_id", pageSize="10"))["rows"]
    second = orjson.loads(await page(client, sort="_id", page="2", pageSize="10"))["rows"]
    assert second[0] == first[-1]
    sb = client.app[EXTO_KEY]
    assert len(sb.records("master")) == 202
    inserted = min(sb.records("master"), key=lambda r: r["_id"])
    assert inserted["createdAt"] < "2024-01-01" <= inserted["updatedAt"]


async def test_churn_deletes_make_offsets_skip(make_client):
    """Deletes before the page just served make the next offset skip a live record."""
    client = await make_client(churn_deletes_per_page=1)
    sb = client.app[EXTO_KEY]
    order = [r["_id"] for r in sorted(sb.records("master"), key=lambda r: r["_id"])]
    seen = []
    for number in range(1, 4):
        if number == 3:
            sb.config.churn_deletes_per_page = 0
        rows = orjson.loads(await page(client, sort="_id", page=str(number), pageSize="10"))["rows"]
        seen += [r["_id"] for r in rows]
    live = {r["_id"] for r in sb.records("master")}
    assert len(live) == 199  # page 1 has nothing before it; page 2 deleted one record
    assert order[20] in live and order[20] not in seen
    assert len(seen) == len(set(seen)) == 30


async def test_poison_page_is_served_and_parses_with_stdlib_json(make_client):
    """Poison records are served (NUL, lone surrogate, NaN, no _id, >10 MB, duplicate _id)."""
    client = await make_client(master_records=100, poison=True)
    raw = await page(client, pageSize="50")
    body = json.loads(raw)
    rows = body["rows"]
    assert len(raw) > 10 * 1024 * 1024
    assert body["total"] == 101
    notes = [r["customFields"]["notes"] or "" for r in rows]
    assert any("\u0000" in n for n in notes)
    assert any("\ud800" in r["customFields"]["name"] for r in rows)
    assert any(r["customFields"]["latitude"] != r["customFields"]["latitude"] for r in rows)
    assert any("_id" not in r and "id" not in r for r in rows)
    assert any(len(n) > 10 * 1024 * 1024 for n in notes)
    ids = [r["_id"] for r in rows if "_id" in r]
    duplicated = [i for i in set(ids) if ids.count(i) == 2]
    assert len(duplicated) == 1
    twins = [r for r in rows if r.get("_id") == duplicated[0]]
    assert twins[0] == twins[1]
    clean = orjson.loads(await page(client, page="2", pageSize="50"))
    assert len(clean["rows"]) == 50


def test_poison_records_are_returned_as_is():
    """sb.records() hands poison records back unchanged (NaN stays a float NaN)."""
    data = ExtoDataset.build(ExtoConfig(master_records=60, module_records=5, users=5, poison=True))
    records = data.collections[("master", "LOCATION")].records()
    assert len(records) == 61
    assert hashlib.sha256(json.dumps(records[:3]).encode()).hexdigest()
    assert any(r["customFields"]["latitude"] != r["customFields"]["latitude"] for r in records)


async def test_churn_keeps_cached_sort_orders_consistent(make_client):
    """After many churned pages, every cached order still equals a fresh sort of the live data."""
    client = await make_client(churn_inserts_per_page=2, churn_deletes_per_page=2)
    sb = client.app[EXTO_KEY]
    for number in range(1, 8):
        for sort in ("_id", "-capacity", "createdAt", ""):
            await page(client, sort=sort, page=str(number), pageSize="10")
    sb.config.churn_inserts_per_page = sb.config.churn_deletes_per_page = 0
    live = sb.records("master")
    by_capacity = sorted(live, key=lambda r: (r["customFields"]["capacity"], r["_id"]))
    assert orjson.loads(await page(client, sort="_id", pageSize="1000"))["rows"] == sorted(
        live, key=lambda r: r["_id"]
    )
    assert (
        orjson.loads(await page(client, sort="-capacity", pageSize="1000"))["rows"]
        == (by_capacity[::-1])
    )
    assert orjson.loads(await page(client, pageSize="1000"))["rows"] == live


def test_record_padding_gives_every_master_a_large_incompressible_field():
    data = ExtoDataset.build(
        ExtoConfig(master_records=5, module_records=1, users=2, projects=1, record_padding=1_000)
    )
    pads = [
        r["customFields"]["padding"] for r in data.collections[("master", "LOCATION")].records()
    ]
    assert len(pads) == 5 and all(len(p) == 1_000 for p in pads) and len(set(pads)) == 5
    assert all(set(p) <= set("0123456789abcdef") for p in pads)
    with pytest.raises(ValueError, match="record_padding"):
        ExtoConfig(record_padding=-1)
