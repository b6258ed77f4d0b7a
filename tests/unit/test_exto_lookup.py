"""Exto read-back filters: runs of integers as ranges where shorter, the rest listed, live
records only; they match what the plain list matches (checked with the sandbox's filter)."""

from __future__ import annotations

from syncer.connectors import exto_lookup
from syncer.models import Request
from syncer.sandbox.exto.filters import compile_filter


def _record(value: object, deleted: bool = False) -> dict[str, object]:
    return {"_id": str(value), "isDeleted": deleted, "customFields": {"serial_number": value}}


def test_a_run_of_integers_is_one_range_and_stragglers_are_listed() -> None:
    keys = [str(n) for n in range(2_000_000, 2_001_000)] + ["5", "007"]
    text, ranged = exto_lookup.live_filter("serial_number", keys)
    assert ranged
    assert text == (
        "serial_number:NUMBER:ge:2000000:and:serial_number:NUMBER:le:2000999"
        ":and:isDeleted:PRIMITIVE:ne:true"
        ":or:serial_number:NUMBER:in:007|5:and:isDeleted:PRIMITIVE:ne:true"
    )


def test_short_runs_and_strings_stay_listed() -> None:
    text, ranged = exto_lookup.live_filter("serial_number", ["1", "2", "3", "10"])
    assert not ranged
    assert text == "serial_number:NUMBER:in:1|2|3|10:and:isDeleted:PRIMITIVE:ne:true"
    text, ranged = exto_lookup.live_filter("code", [f"A{n}" for n in range(100)])
    assert not ranged
    assert text.startswith("code:STRING:in:A0|A1|")


def test_the_filter_matches_what_the_list_matches_and_a_range_may_match_more() -> None:
    keys = [str(n) for n in range(100, 200)] + ["7", "-3"]
    records = [_record(n) for n in range(-10, 300)]
    records += [_record(150.5), _record(150, deleted=True), _record("150")]
    text, _ = exto_lookup.live_filter("serial_number", keys)
    listed = compile_filter(exto_lookup.filter_in("serial_number", keys))
    matched = [r for r in records if compile_filter(text)(r)]
    live_listed = [r for r in records if listed(r) and not r["isDeleted"]]
    assert [r for r in matched if r not in live_listed] == [_record(150.5)]
    assert all(r in matched for r in live_listed)


def test_a_lookup_with_a_range_asks_the_largest_page_sorted_and_pages_on() -> None:
    request = exto_lookup.lookup("/p", {}, "n", [str(n) for n in range(1, 101)])
    assert request.params["pageSize"] == "1000" and request.params["sort"] == "_id"
    listed = exto_lookup.lookup("/p", {}, "n", ["1", "5"])
    assert listed.params["pageSize"] == "2" and "sort" not in listed.params
    assert exto_lookup.next_page(request, {"rows": [], "totalPages": 1}) is None
    following = exto_lookup.next_page(request, {"rows": [], "totalPages": 2})
    assert following == Request("/p", {**request.params, "page": "2"})
    assert exto_lookup.next_page(listed, [{}, {}]) == Request("/p", {**listed.params, "page": "2"})
    assert exto_lookup.next_page(listed, [{}]) is None


def test_digits_of_other_scripts_are_strings_not_numbers() -> None:
    text, ranged = exto_lookup.live_filter("code", ["1", "2", "\u00b2", "\u0663"])
    assert not ranged
    assert text.startswith("code:STRING:in:")
