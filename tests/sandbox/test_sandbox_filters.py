"""Exto's `filter` grammar: the parser, the evaluator and the HTTP parameter."""

from __future__ import annotations

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY
from syncer.sandbox.exto.filters import Condition, FilterError, compile_filter, parse

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"


def record(**custom):
    return {
        "_id": "67bfcbd6117e4e25e1d31dd3",
        "createdAt": "2025-02-27T02:20:06.958Z",
        "updatedAt": "2025-03-01T23:30:00.000Z",
        "customFields": {
            "n": 5,
            "name": "Lyon Depot",
            "tags": ["A", "C"],
            "active": True,
            "opened": "2020-05-17",
            "budget": {"value": 12.5, "currency": "USD"},
            "gone": None,
        }
        | custom,
    }


def matches(text, rec=None, tz=None):
    return compile_filter(text, tz)(rec or record())


def test_parse_typed_and_untyped_conditions():
    """Both the 4-token typed and the 3-token form parse; values keep their colons."""
    parsed = parse("serial_number:NUMBER:eq:1234:and:updatedAt:ge:2025-01-01T10:00:00.000Z")
    assert parsed.groups == (
        (
            Condition("serial_number", "NUMBER", "eq", "1234"),
            Condition("updatedAt", None, "ge", "2025-01-01T10:00:00.000Z"),
        ),
    )


def test_and_binds_tighter_than_or():
    """a and b or c = (a and b) or c."""
    assert parse("a:eq:1:and:b:eq:2:or:c:eq:3").groups == (
        (Condition("a", None, "eq", "1"), Condition("b", None, "eq", "2")),
        (Condition("c", None, "eq", "3"),),
    )
    assert matches("n:eq:6:and:name:eq:Lyon Depot:or:active:eq:true")
    assert not matches("n:eq:6:and:name:eq:Lyon Depot:or:active:eq:false")
    assert matches("n:eq:5:and:name:eq:Lyon Depot:or:active:eq:false")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n:NUMBER:eq:5", True),
        ("n:NUMBER:ne:5", False),
        ("n:NUMBER:gt:4.5", True),
        ("n:NUMBER:ge:5", True),
        ("n:NUMBER:lt:5", False),
        ("n:NUMBER:le:5", True),
        ("n:NUMBER:in:1|5|9", True),
        ("n:NUMBER:in:1|9", False),
        ("n:gt:4", True),
        ("name:STRING:eq:Lyon Depot", True),
        ("name:STRING:eq:lyon depot", False),
        ("name:STRING:cn:depot", True),
        ("name:STRING:nc:depot", False),
        ("name:STRING:sw:lyon", True),
        ("name:STRING:ew:DEPOT", True),
        ("name:STRING:in:Paris|Lyon Depot", True),
        ("tags:STRING:eq:C", True),
        ("tags:STRING:ne:C", False),
        ("tags:eq:B", False),
        ("active:PRIMITIVE:ne:false", True),
        ("active:PRIMITIVE:eq:true", True),
        ("active:eq:true", True),
        ("gone:eq:null", True),
        ("missing:eq:null", True),
        ("name:eq:null", False),
        ("name:ne:null", True),
        ("gone:NUMBER:ne:null", False),
        ("budget.value:NUMBER:gt:12", True),
        ("customFields.n:eq:5", True),
        ("_id:eq:67bfcbd6117e4e25e1d31dd3", True),
        ("opened:DATE:eq:2020-05-17", True),
        ("opened:DATE:gt:2020-05-17", False),
        ("opened:ge:2020-05-17", True),
    ],
)
def test_operators(text, expected):
    """Each operator and type behaves as documented."""
    assert matches(text) is expected


def test_date_compares_calendar_day_in_local_time_zone():
    """DATE compares the day of a timestamp in localTimeZone; UTC when absent."""
    # updatedAt is 2025-03-01T23:30Z: still 1 March in UTC and New York, already 2 March in Kolkata
    assert matches("updatedAt:DATE:eq:2025-03-01")
    assert matches("updatedAt:DATE:eq:2025-03-01", tz="America/New_York")
    assert matches("updatedAt:DATE:eq:2025-03-02", tz="Asia/Kolkata")
    assert not matches("updatedAt:DATE:eq:2025-03-01", tz="Asia/Kolkata")
    assert matches("updatedAt:DATE:gt:2025-03-01", tz="Asia/Kolkata")
    assert matches("updatedAt:DATE:le:2025-03-01")
    assert not matches("updatedAt:DATE:lt:2025-03-01")
    assert matches("updatedAt:DATE:ge:2025-03-01")
    assert matches("updatedAt:DATE:ne:2025-02-28")
    assert matches("updatedAt:ge:2025-03-02", tz="Asia/Kolkata")
    assert matches("updatedAt:DATE:eq:2025-03-02", record(), "Asia/Kolkata")


def test_non_canonical_timestamps_are_converted():
    """Timestamps with an offset are compared by their instant, too."""
    rec = record(seen="2025-03-02T01:00:00+02:00")  # 2025-03-01T23:00Z
    assert matches("seen:DATE:eq:2025-03-01", rec)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "n",
        "n:eq",
        "n:NUMBER:eq",
        ":eq:5",
        "n:bogus:5",
        "n:NUMBER:cn:5",
        "n:NUMBER:eq:five",
        "n:DATE:eq:2025-13-01",
        "n:DATE:eq:yesterday",
        "n:gt:null",
        "n:eq:5:and:",
        "n:eq:5:or:m",
    ],
)
def test_malformed_filters_raise(text):
    """Malformed filter text raises FilterError."""
    with pytest.raises(FilterError):
        compile_filter(text)


def test_unknown_time_zone_raises():
    with pytest.raises(FilterError):
        compile_filter("updatedAt:DATE:eq:2025-01-01", "Mars/Olympus")


async def test_filter_over_http_matches_local_evaluation(make_client):
    """The API returns exactly the records the filter matches, with the filtered total."""
    client = await make_client()
    records = client.app[EXTO_KEY].records("master")
    text = "city:STRING:eq:Lyon:and:capacity:NUMBER:gt:2500:or:tags:STRING:eq:D:and:active:eq:false"
    expected = [r for r in records if compile_filter(text)(r)]
    assert 0 < len(expected) < len(records)
    response = await client.get(
        MASTERS, params={"filter": text, "pageSize": "7", "page": "2"}, headers=AUTH
    )
    body = orjson.loads(await response.read())
    assert body["total"] == len(expected)
    assert body["rows"] == expected[7:14]


async def test_date_filter_over_http_uses_local_time_zone(make_client):
    """localTimeZone moves the calendar day the DATE filter compares."""
    client = await make_client()
    records = client.app[EXTO_KEY].records("master")
    day = records[50]["createdAt"][:10]
    for tz in ("UTC", "Pacific/Kiritimati"):
        response = await client.get(
            MASTERS,
            params={"filter": f"createdAt:DATE:eq:{day}", "localTimeZone": tz, "pageSize": "1000"},
            headers=AUTH,
        )
        rows = orjson.loads(await response.read())["rows"]
        expected = [r for r in records if compile_filter(f"createdAt:DATE:eq:{day}", tz)(r)]
        assert rows == expected
        assert rows


async def test_malformed_filter_is_400_with_error_body(make_client):
    """A malformed filter or an unknown time zone answers 400 with the error body."""
    client = await make_client()
    for params in (
        {"filter": "capacity:NUMBER:eq:lots"},
        {"filter": "capacity:zz:1"},
        {"filter": "createdAt:DATE:eq:2025-01-01", "localTimeZone": "Nowhere/Else"},
    ):
        response = await client.get(MASTERS, params=params, headers=AUTH)
        assert response.status == 400
        body = orjson.loads(await response.read())
        assert body["code"] == 400
        assert body["error"]["summary"] == "Bad Request"
        assert body["error"]["detail"]
