"""Canonical hashing, duplicate resolution and quarantine reasons."""

from __future__ import annotations

import json

import pytest

from syncer.models import ListField, ViewSpec
from syncer.records import content_hash, page_fields, parse_json, prepare


def key(record: dict) -> str | None:  # type: ignore[type-arg]
    value = record.get("_id")
    return value if isinstance(value, str) else None


def test_hash_ignores_key_order_but_not_values() -> None:
    a = {"_id": "1", "customFields": {"x": 1, "y": [1, 2]}}
    b = {"customFields": {"y": [1, 2], "x": 1}, "_id": "1"}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "customFields": {"x": 2, "y": [1, 2]}})


def test_duplicate_keys_in_a_page_keep_the_newest() -> None:
    old = {"_id": "1", "updatedAt": "2025-01-01T00:00:00.000Z", "v": 1}
    new = {"_id": "1", "updatedAt": "2025-01-02T00:00:00.000Z", "v": 2}
    page = prepare([new, old], key, "updatedAt", lenient=False)
    assert [json.loads(r.text)["v"] for r in page.rows] == [2] and not page.rejected


def test_each_poison_kind_is_rejected_with_its_reason() -> None:
    body = (
        b'[{"_id":"ok","v":1},{"_id":"nul","v":"a\\u0000b"},{"_id":"sur","v":"\\ud800"},'
        b'{"_id":"nan","v":NaN},{"v":"no key"},{"_id":"big","v":"' + b"x" * (11 * 2**20) + b'"}]'
    )
    records, strict = parse_json(body)
    assert not strict
    page = prepare(records, key, None, lenient=True)
    assert [r.key for r in page.rows] == ["ok"]
    rejected = page.rejected
    reasons = {r.key: r.reason for r in rejected}
    assert "NUL" in reasons["nul"]
    assert "surrogate" in reasons["sur"]
    assert "NaN" in reasons["nan"]
    assert "no key" in reasons[None]
    assert "larger than" in reasons["big"]
    assert all("\x00" not in r.raw for r in rejected)


def test_a_key_with_nul_or_a_surrogate_is_rejected_not_stored() -> None:
    page = prepare([{"_id": "a\x00"}, {"_id": "\ud800"}], key, None, lenient=True)
    assert page.rows == [] and len(page.rejected) == 2
    assert all(r.key is None for r in page.rejected)


def test_field_kinds_tell_timestamps_and_dates_from_strings() -> None:
    record = {
        "_id": "1",
        "updatedAt": "2025-02-27T02:22:42.000Z",
        "customFields": {
            "d": "2025-10-01",
            "s": "2025-10-01 later",
            "n": 1.5,
            "b": True,
            "l": ["A"],
            "o": {"x": 1},
            "z": None,
        },
    }
    fields = prepare(
        [record], key, None, lenient=False, view=ViewSpec(objects=("customFields",))
    ).fields
    assert (("updatedAt",), "timestamp") in fields
    kinds = {path[1]: kind for path, kind in fields if len(path) == 2}
    assert kinds == {
        "d": "date",
        "s": "string",
        "n": "number",
        "b": "boolean",
        "l": "array",
        "o": "object",
        "z": "null",
    }


def test_strict_json_is_parsed_by_orjson() -> None:
    value, strict = parse_json(b'{"rows": []}')
    assert strict and value == {"rows": []}


def test_name_value_lists_become_fields() -> None:
    """Actito-style attribute lists give one field per attribute name."""
    pivot = ListField("attributes")
    records = [
        {
            "profileId": 1,
            "attributes": [
                {"name": "emailAddress", "value": "a@x"},
                {"name": "loyaltyPoints", "value": 3},
            ],
        },
        {"profileId": 2, "attributes": [{"name": "birthDate", "value": "2001-02-03"}]},
    ]
    fields = page_fields(records, ViewSpec(lists=(pivot,)))
    nested = {path[1]: kind for path, kind in fields if path[0] == pivot.container}
    assert nested == {"emailAddress": "string", "loyaltyPoints": "number", "birthDate": "date"}


def test_field_names_depth_and_infinities_get_their_own_reasons() -> None:
    deep: object = 1
    for _ in range(1_000):
        deep = {"d": deep}
    body = (
        b'[{"_id":"ok","v":1},{"_id":"nulname","c":{"a\\u0000b":1}},'
        b'{"_id":"surname","c":{"a\\ud800":1}},{"_id":"inf","v":Infinity},'
        b'{"_id":"ninf","v":[-Infinity]},{"_id":null,"v":2}]'
    )
    records, _ = parse_json(body)
    page = prepare([*records, {"_id": "deep", "v": deep}], key, None, lenient=True)
    assert [r.key for r in page.rows] == ["ok"]
    reasons = {r.key: r.reason for r in page.rejected}
    assert reasons["nulname"] == "NUL character in a field name"
    assert reasons["surname"] == "lone surrogate in a field name"
    assert reasons["inf"] == reasons["ninf"] == "NaN or Infinity in a value"
    assert reasons["deep"] == "nested more than 254 levels deep"
    assert reasons[None] == "record has no key"


def test_duplicates_within_a_page_are_counted() -> None:
    a = {"_id": "1", "v": 1}
    page = prepare([a, {**a, "v": 2}, {"_id": "2"}, a], key, None, lenient=False)
    assert page.duplicates == 2 and len(page.rows) == 2


def test_a_body_nested_past_the_parsers_limit_is_a_value_error() -> None:
    body = b"[" + b'{"d":' * 20_000 + b"1" + b"}" * 20_000 + b"]"
    with pytest.raises(ValueError, match="nested more than"):
        parse_json(body)
