"""The Exto connector's requests and record extraction, as data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncer import errors
from syncer.connectors import exto


def test_incremental_filter_is_the_typed_day_granular_form() -> None:
    spec = exto.stream("master:LOCATION")
    assert spec.incremental_params is not None
    params = spec.incremental_params(datetime(2025, 3, 4, 23, 59, tzinfo=UTC))
    assert params == {"filter": "updatedAt:DATE:ge:2025-03-04", "localTimeZone": "UTC"}
    assert spec.params == {"sort": "_id"}
    request = spec.page(spec.params, 3, 1000)
    assert request.path == "/api/v1/master-record/LOCATION"
    assert request.params == {"sort": "_id", "page": "3", "pageSize": "1000"}


def test_lookup_filter_uses_in_with_pipes() -> None:
    spec = exto.stream("module:INSPECTION")
    assert spec.lookup_params is not None
    assert spec.lookup_params(["a", "b"]) == {"filter": "_id:STRING:in:a|b"}


def test_both_envelopes_are_accepted() -> None:
    spec = exto.stream("master:X")
    page = spec.extract(
        {"rows": [{"_id": "a"}], "total": 1, "page": 1, "pageSize": 1, "totalPages": 1}
    )
    assert page.records == [{"_id": "a"}] and page.total_pages == 1
    bare = spec.extract([{"_id": "a"}, {"_id": "b"}])
    assert bare.item_count == 2 and bare.total_pages is None


def test_users_flatten_the_nested_array_and_key_on_lower_case_user_name() -> None:
    spec = exto.stream("users")
    page = spec.extract([[{"user": {"userName": "John@X.com"}}, {"user": {"userName": "a@x.com"}}]])
    assert [spec.key(r) for r in page.records] == ["john@x.com", "a@x.com"]


def test_groups_become_one_row_per_project_group_and_tenant_group() -> None:
    spec = exto.stream("groups")
    body = [
        {"projects": [{"projectID": "P1", "groups": ["G1", "G2"], "spaces": []}], "groups": ["T1"]}
    ]
    page = spec.extract(body)
    assert [spec.key(r) for r in page.records] == ['["P1","G1"]', '["P1","G2"]', '[null,"T1"]']
    assert page.item_count == 1


def test_unknown_stream_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="master:<NAME>"):
        exto.stream("widgets")


def test_error_body_summary() -> None:
    body = {
        "code": 400,
        "error": {"summary": "Bad Request", "detail": ["Page must be greater than 0"]},
    }
    assert exto.connector.error_summary(body) == "Bad Request: Page must be greater than 0"


def test_a_stream_filter_scopes_pages_increments_and_lookups() -> None:
    """The stream's `filter` read option is ANDed into the incremental and lookup filters:
    Exto binds AND before OR and has no parentheses, so it joins each OR'd term."""
    spec = exto.stream(
        "master:LOCATION", {"filter": "city:STRING:eq:Lyon:or:city:STRING:eq:Nice", "status": "A"}
    )
    assert spec.params == {
        "sort": "_id",
        "filter": "city:STRING:eq:Lyon:or:city:STRING:eq:Nice",
        "status": "A",
    }
    assert spec.incremental_params is not None and spec.lookup_params is not None
    since = spec.incremental_params(datetime(2025, 3, 4, tzinfo=UTC))
    assert since["filter"] == (
        "city:STRING:eq:Lyon:and:updatedAt:DATE:ge:2025-03-04"
        ":or:city:STRING:eq:Nice:and:updatedAt:DATE:ge:2025-03-04"
    )
    assert spec.lookup_params(["a"]) == {
        "filter": "city:STRING:eq:Lyon:and:_id:STRING:in:a"
        ":or:city:STRING:eq:Nice:and:_id:STRING:in:a"
    }


def test_a_user_is_absent_only_when_exto_says_that_user_is_not_found() -> None:
    """A by-user error proves the user is gone only when it names the user and says "not
    found"; a 404 about the path, or a 400 about something else, proves nothing."""
    absent = exto.stream("users").lookup_absent
    name = "ann@example.com"
    assert absent(name, 404, "Not Found: User ann@example.com not found.")
    assert absent(name, 400, "Bad Request: user ANN@example.com not found")
    assert not absent(name, 404, "Not Found: Cannot GET /api/v1/user/user-access/by-user")
    assert not absent(name, 400, "Bad Request: username is required")
    assert not absent(name, 500, "User ann@example.com not found")


def test_users_are_looked_up_one_by_one_by_username() -> None:
    spec = exto.stream("users")
    assert spec.lookup_params is None and spec.lookup_one is not None
    request = spec.lookup_one("ann@example.com")
    assert request.path == "/api/v1/user/user-access/by-user"
    assert request.params == {"username": "ann@example.com"}
    entry = {"user": {"userName": "Ann@Example.com"}, "groups": [], "projects": []}
    assert [spec.key(r) for r in spec.lookup_found(entry)] == ["ann@example.com"]


def test_a_sub_table_stream_reads_one_parent_records_rows() -> None:
    spec = exto.stream("subtable:INSPECTION:T1:67bf904882101daa4b00bca1")
    request = spec.page(spec.params, 2, 1000)
    assert request.path == "/api/v1/sub-table/T1"
    assert request.params == {
        "moduleName": "INSPECTION",
        "recordId": "67bf904882101daa4b00bca1",
        "page": "2",
        "pageSize": "1000",
    }
    assert spec.lookup_params is None and spec.lookup_one is None
    for bad in ("subtable:INSPECTION:T1", "subtable:INSPECTION", "subtable:M:T:R:X"):
        with pytest.raises(errors.ConfigError, match="recordId"):
            exto.stream(bad)
