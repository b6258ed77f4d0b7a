"""Kinds of string values and the typed-view column each gives: instants written without an
offset (Actito, XtraKit) are read in the stream's time zone, never the session's."""

from __future__ import annotations

from datetime import UTC, datetime

from syncer import records
from syncer.mirror.views import column_type, typed_column
from syncer.models import ListField, ViewSpec


def kinds(values: list[object], view: ViewSpec | None = None) -> set[str]:
    page = records.page_fields([{"f": v} for v in values], view)
    return {kind for path, kind in page if path == ("f",)}


def test_string_kinds() -> None:
    assert kinds(["2024-01-01 10:00:00", "2025-06-30 23:59:59"]) == {"local_timestamp"}
    assert kinds(["2024-01-01T10:00:00.000Z"]) == {"timestamp"}
    assert kinds(["2024-01-01"]) == {"date"}
    assert kinds(["2024-01-01 10:00:00", "soon"]) == {"string"}


def test_local_instants_are_timestamptz_read_in_the_view_zone() -> None:
    view = ViewSpec(time_zone="Europe/Brussels")
    assert column_type(["f"], ["local_timestamp", "null"], view) == "timestamptz"
    assert column_type(["f"], ["local_timestamp", "timestamp"], view) == "text"
    sql = typed_column(["f"], ["local_timestamp"], view, lambda v: f"'{v}'")
    assert sql.startswith("syncer.try_timestamptz_in(") and "'Europe/Brussels'" in sql
    # stamps with an offset go through the same function, which keeps their own offset
    # (tests/integration/test_typed_views.py reads both kinds back from Postgres)
    assert typed_column(["f"], ["timestamp"], view, lambda v: f"'{v}'") == sql


def test_a_declared_instant_is_timestamptz_before_any_value() -> None:
    view = ViewSpec(instants=frozenset({"expires"}))
    assert column_type(["expires"], ["null"], view) == "timestamptz"
    assert column_type(["expires"], ["null", "timestamp"], view) == "timestamptz"
    assert column_type(["expires"], ["number"], view) == "numeric"
    assert column_type(["other"], ["null"], view) == "jsonb"


def test_source_updated_at_from_a_list_attribute_in_the_stream_zone() -> None:
    view = ViewSpec(
        lists=(ListField("attributes"),), time_zone="Europe/Brussels", updated=("attributes", "u")
    )
    record = {"id": 1, "attributes": [{"name": "u", "value": "2025-01-10 10:00:00"}]}
    [row] = records.prepare([record], lambda r: str(r["id"]), None, lenient=False, view=view).rows
    assert row.updated_at == datetime(2025, 1, 10, 9, 0, tzinfo=UTC)  # CET is UTC+1
