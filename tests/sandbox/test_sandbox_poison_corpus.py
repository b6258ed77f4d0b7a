"""The poison corpus: one master record of each bad kind, served where its manifest says."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, deepjson, poison_corpus
from syncer.sandbox.exto.data import ExtoDataset
from syncer.sandbox.exto.seeding import POISON_POSITIONS

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
SMALLEST = poison_corpus.MIN_MASTER_RECORDS
CORPUS = {"master_records": SMALLEST, "module_records": 5, "users": 5, "poison_corpus": True}
DEEP_TEXT = b'{"d": ' * poison_corpus.DEEP_LEVELS + b"1" + b"}" * poison_corpus.DEEP_LEVELS


async def page(client: Any, **params: str) -> bytes:
    response = await client.get(MASTERS, params=params, headers=AUTH)
    assert response.status == 200, (await response.text())[:300]
    return await response.read()


def _key_has(row: dict[str, Any], char: str) -> bool:
    return any(char in key for key in row["customFields"])


#: kind -> a test of the decoded row at the manifest's position (and the page's raw text)
CHECKS = {
    "nul_value": lambda row, raw: "\u0000" in row["customFields"]["notes"],
    "nul_field_name": lambda row, raw: _key_has(row, "\u0000"),
    "nul_key": lambda row, raw: "\u0000" in row["_id"] and row["id"] == row["_id"],
    "surrogate_value": lambda row, raw: row["customFields"]["name"].endswith("\ud800"),
    "surrogate_field_name": lambda row, raw: _key_has(row, "\ud800"),
    "nan": lambda row, raw: math.isnan(row["customFields"]["latitude"]) and b"NaN" in raw,
    "infinity": lambda row, raw: (
        row["customFields"]["longitude"] == math.inf and b": Infinity" in raw
    ),
    "negative_infinity": lambda row, raw: (
        row["customFields"]["latitude"] == -math.inf and b"-Infinity" in raw
    ),
    "big_value": lambda row, raw: row["customFields"]["notes"] == "x" * (50 * 1024 * 1024),
    "many_fields": lambda row, raw: (
        sum(k.startswith("extra_") for k in row["customFields"]) == 2_000
    ),
    "null_key": lambda row, raw: row["_id"] is None and row["id"] is None,
    "missing_key": lambda row, raw: "_id" not in row and "id" not in row,
}


def _depth(value: Any) -> int:
    """How many `{"d": ...}` objects nest in `value` (walked without recursion)."""
    levels = 0
    while isinstance(value, dict):
        assert list(value) == ["d"]
        value = value["d"]
        levels += 1
    assert value == 1
    return levels


def test_positions_spread_evenly_on_multiples_of_100():
    """Kind i sits mid-segment i, on a multiple of 100; from 15,386 records each kind has its
    own 1,000-record page; fewer than 2,800 records is refused."""
    kinds = poison_corpus.KINDS
    for total in (SMALLEST, 5_000, 15_386, 50_000, 100_000, 300_000, *range(15_386, 60_000, 997)):
        positions = poison_corpus.positions(total)
        assert list(positions) == list(kinds)
        segment = total // len(kinds)
        for i, position in enumerate(positions.values()):
            assert position % 100 == 0
            assert i * segment < position < position + 1 < (i + 1) * segment
        if total >= 15_386:
            assert len({p // 1000 for p in positions.values()}) == len(kinds)
    assert poison_corpus.positions(SMALLEST)["nul_value"] == 100
    with pytest.raises(ValueError, match="2,800"):
        poison_corpus.positions(SMALLEST - 1)
    with pytest.raises(ValueError, match="2,800"):
        ExtoConfig(master_records=SMALLEST - 1, poison_corpus=True)
    with pytest.raises(ValueError, match="boolean"):
        ExtoConfig(poison_corpus=1)  # type: ignore[arg-type]
    assert ExtoConfig(poison_corpus=True).describe()["poison_corpus"] is True


async def test_corpus_pages_are_served_and_each_kind_is_where_the_manifest_says(make_client):
    """Every corpus page parses with the stdlib's json (the deep one's text is checked and
    orjson reads it); the record at each manifest position is of its kind, with its `_id`."""
    client = await make_client(**CORPUS)
    sb = client.app[EXTO_KEY]
    manifest = sb.data.poison_corpus
    assert [e.kind for e in manifest] == list(poison_corpus.KINDS)
    assert [e.position for e in manifest] == sorted(e.position for e in manifest)
    assert all(e.note == poison_corpus.NOTES[e.kind] for e in manifest)
    for entry in manifest:
        assert entry.position % 100 == 0  # first row of its 100-row page
        raw = await page(client, page=str(entry.position // 100 + 1), pageSize="100")
        if entry.kind == "deep":
            # (whether the stdlib can parse it depends on the process's recursion limit)
            assert raw.count(DEEP_TEXT) == 1
            body = orjson.loads(raw)
        else:
            body = json.loads(raw)
        assert body["total"] == SMALLEST + 1
        rows = body["rows"]
        assert len(rows) == 100
        row = rows[0]
        assert row.get("_id") == entry.id
        if entry.kind == "deep":
            assert _depth(row["customFields"]["nested"]) == poison_corpus.DEEP_LEVELS
        elif entry.kind == "duplicate_key":
            first, copy = rows[0], rows[1]
            assert first["_id"] == copy["_id"] == first["id"] == copy["id"] == entry.id
            assert copy["updatedAt"] > first["updatedAt"]
            assert copy["customFields"]["capacity"] == first["customFields"]["capacity"] + 1
            assert copy["createdAt"] == first["createdAt"]
        else:
            assert CHECKS[entry.kind](row, raw), entry
        if entry.kind in ("null_key", "missing_key"):
            assert entry.id is None
        else:
            assert isinstance(entry.id, str)
    # the pages between them are clean: orjson (strict JSON) reads them
    clean = orjson.loads(await page(client, page="1", pageSize="100"))
    assert len(clean["rows"]) == 100


async def test_records_returns_the_deep_record_whole_and_sorting_by_it_works(make_client):
    """sb.records() decodes the 1,002-level record (orjson, past the stdlib's recursion);
    sorting by its field answers; generations and churn never pick corpus records."""
    client = await make_client(**CORPUS, churn_deletes_per_page=50)
    sb = client.app[EXTO_KEY]
    by_kind = {e.kind: e for e in sb.data.poison_corpus}
    records = sb.records("master")
    assert len(records) == SMALLEST + 1
    deep = records[by_kind["deep"].position]
    assert deep["_id"] == by_kind["deep"].id
    assert _depth(deep["customFields"]["nested"]) == poison_corpus.DEEP_LEVELS
    body = orjson.loads(await page(client, sort="-nested", pageSize="5"))
    assert body["rows"][0]["_id"] == by_kind["deep"].id  # objects sort after numbers/strings
    for number in range(1, 30):
        await page(client, page=str(number), pageSize="100")
    sb.generation(change_pct=50, delete_pct=40, insert_pct=0)
    live = [r.get("_id") for r in sb.records("master")]
    for entry in by_kind.values():
        if entry.id is not None:
            assert live.count(entry.id) == (2 if entry.kind == "duplicate_key" else 1)
    assert live.count(None) == 2  # null_key and missing_key


def test_corpus_is_deterministic_and_composes_with_poison():
    """One seed builds one manifest; `poison` and `poison_corpus` together keep both layouts,
    one extra record each (master_records + 2)."""
    both = ExtoDataset.build(ExtoConfig(**CORPUS, poison=True))
    again = ExtoDataset.build(ExtoConfig(**CORPUS, poison=True))
    alone = ExtoDataset.build(ExtoConfig(**CORPUS))
    poison_only = ExtoDataset.build(ExtoConfig(**(CORPUS | {"poison_corpus": False}), poison=True))
    assert both.poison_corpus == again.poison_corpus
    assert [(e.kind, e.position) for e in both.poison_corpus] == [
        (e.kind, e.position) for e in alone.poison_corpus
    ]
    coll = both.collections[("master", "LOCATION")]
    assert len(coll) == SMALLEST + 2
    assert len(alone.collections[("master", "LOCATION")]) == SMALLEST + 1
    assert len(coll.poison) == 7 + len(poison_corpus.KINDS) + 1
    served = coll.records()
    head = poison_only.collections[("master", "LOCATION")].records()[: POISON_POSITIONS[-1] + 2]
    assert json.dumps(served[: len(head)]) == json.dumps(head)
    for entry in both.poison_corpus:
        assert served[entry.position].get("_id") == entry.id
    other = ExtoDataset.build(ExtoConfig(**CORPUS, seed=2))
    assert [e.id for e in other.poison_corpus] != [e.id for e in alone.poison_corpus]


def test_deepjson_writes_the_stdlib_text_at_any_depth():
    """deepjson.dumps == json.dumps(allow_nan=True) where the stdlib manages; deeper it still
    writes (and loads reads up to orjson's 1,024 levels)."""
    values: list[Any] = [
        {"a": [1, 2.5, None, True, False, "é\u0000\ud800"], "b": {}, "c": [], "": {"x": [[]]}},
        [float("nan"), float("inf"), float("-inf"), -0.0, 10**30, 1e-07],
        "plain",
    ]
    for value in values:
        assert deepjson.dumps(value) == json.dumps(value, allow_nan=True)
        assert deepjson.dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True)
    odd_keys = {1: "one", 2.5: "x", False: "f", None: "n", float("nan"): "nan"}
    assert deepjson.dumps(odd_keys) == json.dumps(odd_keys)
    deep = poison_corpus.deep_value()
    text = deepjson.dumps({"customFields": {"nested": deep}})
    assert text.encode().count(DEEP_TEXT) == 1
    assert _depth(deepjson.loads(text)["customFields"]["nested"]) == poison_corpus.DEEP_LEVELS
    with pytest.raises(TypeError):
        deepjson.dumps({"x": object()})
