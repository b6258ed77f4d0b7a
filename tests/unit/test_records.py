"""Canonical hashing, duplicate resolution and quarantine reasons."""

from __future__ import annotations

import json

import pytest

from syncer.models import ListField, ViewSpec
from syncer.records import content_hash, page_fields, parse_body, parse_json, prepare


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


def page_of(*records: bytes) -> bytes:
    """A bare-array page of records given as raw JSON bytes (which may hold bad bytes)."""
    return b"[" + b",".join(records) + b"]"


def test_records_holding_bytes_that_are_not_utf8_are_rejected_and_their_neighbours_kept() -> None:
    body = page_of(
        b'{"_id":"ok","v":"caf\xc3\xa9"}',
        b'{"_id":"val","v":"caf\xe9 au lait"}',
        b'{"_id":"name","c":{"gate\xffcode":1}}',
        b'{"_id":"66a1\x80b2","v":1}',
        b'{"_id":"deep","v":[{"w":["cut \xc3"]}]}',
        b'{"_id":"cesu","v":"\xed\xa0\x80"}',
    )
    parsed = parse_body(body)
    assert not parsed.strict and parsed.bad_bytes is not None
    page = prepare(parsed.value, key, None, lenient=True, bad_bytes=parsed.bad_bytes)
    assert [r.key for r in page.rows] == ["ok"]
    assert json.loads(page.rows[0].text)["v"] == "café"
    got = [(r.key, r.reason, r.raw) for r in page.rejected]
    assert got == [
        ("val", "bytes that are not UTF-8 in a value", '{"_id": "val", "v": "caf\\xe9 au lait"}'),
        (
            "name",
            "bytes that are not UTF-8 in a field name",
            '{"_id": "name", "c": {"gate\\xffcode": 1}}',
        ),
        (None, "key contains bytes that are not UTF-8", '{"_id": "66a1\\x80b2", "v": 1}'),
        (
            "deep",
            "bytes that are not UTF-8 in a value",
            '{"_id": "deep", "v": [{"w": ["cut \\xc3"]}]}',
        ),
        ("cesu", "bytes that are not UTF-8 in a value", '{"_id": "cesu", "v": "\\xed\\xa0\\x80"}'),
    ]
    assert page.fields == prepare([{"_id": "ok", "v": "café"}], key, None, lenient=False).fields


def test_a_vendors_own_surrogate_escape_is_not_taken_for_a_bad_byte() -> None:
    """`\\udce9` in the JSON is a lone surrogate (its own reason); the raw byte E9 is a bad
    byte; both in one record are told apart in its raw text."""
    body = page_of(
        b'{"_id":"escape","v":"\\udce9"}',
        b'{"_id":"byte","v":"\xe9"}',
        b'{"_id":"both","v":"\\udce9 \xe9 \\\\x41"}',
    )
    parsed = parse_body(body)
    page = prepare(parsed.value, key, None, lenient=True, bad_bytes=parsed.bad_bytes)
    got = {r.key: (r.reason, r.raw) for r in page.rejected}
    assert got["escape"] == ("lone surrogate in a value", '{"_id": "escape", "v": "\\udce9"}')
    assert got["byte"] == ("bytes that are not UTF-8 in a value", '{"_id": "byte", "v": "\\xe9"}')
    assert got["both"] == (
        "bytes that are not UTF-8 in a value",
        '{"_id": "both", "v": "\\udce9 \\xe9 \\\\x41"}',
    )


def test_bad_bytes_are_read_as_characters_the_body_does_not_hold() -> None:
    """Text (or escapes) from the first private-use blocks push the bad bytes to a free block,
    so a vendor's own private-use characters are stored, never taken for bad bytes."""
    first = chr(0xF0000 + 0xE9).encode()  # the character the first block gives byte E9
    body = page_of(
        b'{"_id":"pua","v":"' + first + b'"}',
        b'{"_id":"pua2","v":"\\uDB81\\uDCE9"}',  # the second block's E9, escaped
        b'{"_id":"byte","v":"\xe9"}',
    )
    parsed = parse_body(body)
    assert parsed.bad_bytes is not None and parsed.bad_bytes.base == 0xF0800  # the third block
    page = prepare(parsed.value, key, None, lenient=True, bad_bytes=parsed.bad_bytes)
    assert [r.key for r in page.rows] == ["pua", "pua2"]
    assert [(r.key, r.raw) for r in page.rejected] == [("byte", '{"_id": "byte", "v": "\\xe9"}')]


def test_a_body_holding_every_block_is_not_json() -> None:
    taken = b",".join(b'"\\u%04x\\udc00"' % high for high in range(0xDB80, 0xDC00))
    with pytest.raises(ValueError, match="every block"):
        parse_body(b"[" + taken + b',"\xe9"]')


def test_records_without_bad_bytes_on_such_a_page_keep_their_usual_reasons() -> None:
    body = page_of(b'{"_id":"nan","v":NaN}', b'{"v":"no key \xe9"}', b'"\xe9"', b'{"_id":"ok"}')
    parsed = parse_body(body)
    page = prepare(parsed.value, key, None, lenient=True, bad_bytes=parsed.bad_bytes)
    assert [r.key for r in page.rows] == ["ok"]
    assert [(r.reason, r.raw) for r in page.rejected] == [
        ("NaN or Infinity in a value", '{"_id": "nan", "v": NaN}'),
        ("record has no key", '{"v": "no key \\xe9"}'),
        ("record is not a JSON object", '"\\xe9"'),
    ]


def test_answers_that_are_not_pages_refuse_bytes_that_are_not_utf8() -> None:
    """Write answers and token exchanges go through parse_json: a bad byte there is a bad
    body (retried or read back), never a value holding stand-in characters."""
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_json(b'{"insertedIds": ["a\xe9"]}')
    assert parse_body(b'{"a": NaN}').bad_bytes is None


def test_html_is_not_json() -> None:
    for body in (b"<!DOCTYPE html><title>Down</title>", b"<html>caf\xe9</html>", b""):
        with pytest.raises(ValueError):
            parse_body(body)


def test_a_prepared_page_crosses_a_pipe_whole() -> None:
    """A worker's answer is pickled by columns: every row, rejection and field comes back."""
    import pickle

    records = [
        {"_id": "a", "n": 1, "updatedAt": "2024-01-01T00:00:00Z"},
        {"_id": "b", "n": [1, {"x": None}]},
        {"_id": "a", "n": 2, "updatedAt": "2024-01-02T00:00:00+02:00"},
        "not an object",
    ]
    page = prepare(records, lambda r: r.get("_id"), "updatedAt", lenient=False)
    back = pickle.loads(pickle.dumps(page))
    assert back == page
    assert [type(r).__name__ for r in back.rows] == ["Row", "Row"]
    assert back.duplicates == 1 and len(back.rejected) == 1 and back.fields == page.fields
    assert pickle.loads(pickle.dumps(prepare([], lambda r: None, None, lenient=False))).rows == []
