"""Config validation errors and identifier normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import errors, mirror, names
from syncer.mirror import assign_view_columns, view_ddl
from syncer.mirror.view_schema import Published
from syncer.mirror.views import ViewColumn
from syncer.models import ListField, ViewSpec
from syncer.settings import load_config

GOOD = """
[[connections]]
name = "exto"
vendor = "exto"
base_url = "http://127.0.0.1:1/data"
token_env = "EXTO_TOKEN"
rate_limit = 3
streams = ["users"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_a_good_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.connections[0].headroom == 0.97


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('"exto"\nvendor', '"Bad Name!"\nvendor'), "connections.0.name"),
        (GOOD.replace("rate_limit = 3", "rate_limit = 0"), "rate_limit"),
        (GOOD.replace('token_env = "EXTO_TOKEN"', 'token_env = "my token"'), "token_env"),
        (GOOD + "surprise = 1\n", "surprise"),
        ("[[connections]\n", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(errors.ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file_and_missing_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.delenv("EXTO_TOKEN", raising=False)
    conn = load_config(write(tmp_path, GOOD)).connections[0]
    with pytest.raises(errors.ConfigError, match="EXTO_TOKEN is not set"):
        conn.token()


@pytest.mark.parametrize(
    "raw",
    ['a"; DROP TABLE x; --', "select", "É" * 80, "1abc", "", "x" * 200, "Ünïcödé name"],
)
def test_identifiers_are_safe_and_bounded(raw: str) -> None:
    name = names.identifier(raw)
    assert names.quote(name) == f'"{name}"'
    assert len(name.encode()) <= 63
    assert names.identifier(raw) == name


def test_long_names_stay_distinct() -> None:
    assert names.identifier("x" * 100 + "a") != names.identifier("x" * 100 + "b")


def test_quote_refuses_raw_strings() -> None:
    with pytest.raises(ValueError):
        names.quote('a"b')


def _published(columns: list[ViewColumn]) -> list[Published]:
    return [Published(c.name, tuple(c.path), c.sql_type) for c in columns]


def _tagged(value: str) -> str:
    """A stand-in for the server's quote_literal: marks where each literal goes."""
    return f"<{value}>"


def test_view_columns_prefer_custom_fields_and_pass_paths_as_literals() -> None:
    view = ViewSpec(objects=("customFields",))
    fields = [
        (["customFields", "name"], ["string"]),
        (["name"], ["string"]),
        (["customFields", "it's"], ["number"]),
    ]
    ddl = view_ddl("exto__m", _published(assign_view_columns(fields, view)[0]), [], view, _tagged)
    assert ' AS "name"' in ddl and "<it's>::text" in ddl and ' AS "it_s"' in ddl
    assert ddl.count(' AS "name') == 2
    assert "'it" not in ddl  # the raw field name never enters the text unquoted


def test_view_pivots_lists_and_casts_declared_numeric_strings() -> None:
    pivot = ListField("attributes")
    view = ViewSpec(lists=(pivot,), numeric=frozenset({"quantity"}))
    fields = [([pivot.container, "email"], ["string"]), (["quantity"], ["string"])]
    ddl = view_ddl("actito__p", _published(assign_view_columns(fields, view)[0]), [], view, _tagged)
    assert (
        "pg_catalog.jsonb_path_query_first(_data, <$.attributes[*] ? (@.name == $n).value>" in ddl
    )
    assert "pg_catalog.jsonb_build_object('n', <email>::text)" in ddl and ' AS "email"' in ddl
    assert "pg_catalog.btrim(((_data #> ARRAY[<quantity>::text]) #>> '{}'))::numeric" in ddl


def test_a_stored_column_keeps_its_name_when_a_colliding_field_arrives() -> None:
    view = ViewSpec(objects=("customFields",))
    first, _ = assign_view_columns([(["name"], ["string"])], view)
    stored = {tuple(c.path): (c.name, c.sql_type) for c in first}
    # a nested field would have won the plain name had both been seen at once
    later, none = assign_view_columns(
        [(["name"], ["string"]), (["customFields", "name"], ["string"])], view, stored
    )
    by_path = {tuple(c.path): c.name for c in later}
    assert by_path[("name",)] == "name" and none == []
    assert by_path[("customFields", "name")].startswith("name_")


def test_column_names_are_distinct_bounded_and_past_the_budget_none() -> None:
    view = ViewSpec(objects=("customFields",))
    hostile = ["Name", "NAME", "name", "_pk", "select", "a" * 80 + "1", "a" * 80 + "2", ""]
    hostile += [f"f{i}" for i in range(mirror.MAX_VIEW_COLUMNS)]
    fields = [(["customFields", h], ["number"]) for h in hostile]
    columns, none = assign_view_columns(fields, view)
    got = [c.name for c in columns]
    assert len(got) == mirror.MAX_VIEW_COLUMNS == len(set(got))
    assert all(len(n.encode()) <= 63 and n not in mirror.ENGINE_COLUMNS for n in got)
    assert len(none) == len(hostile) - mirror.MAX_VIEW_COLUMNS
    # the budget is kept across runs: stored columns count, new paths get none
    stored: dict[tuple[str, ...], tuple[str | None, str | None]] = {
        tuple(c.path): (c.name, c.sql_type) for c in columns
    }
    stored |= {tuple(p): (None, None) for p in none}
    again, more = assign_view_columns(
        [*fields, (["customFields", "new"], ["number"])], view, stored
    )
    assert [c.name for c in again] == got and more == [["customFields", "new"]]


def test_column_type_follows_the_kinds() -> None:
    view = ViewSpec(numeric=frozenset({"qty"}))
    assert mirror.column_type(["n"], ["number", "null"], view) == "numeric"
    assert mirror.column_type(["n"], ["number", "string"], view) == "jsonb"
    assert mirror.column_type(["qty"], ["number", "string"], view) == "numeric"
    assert mirror.column_type(["t"], ["timestamp"], view) == "timestamptz"
    assert mirror.column_type(["t"], ["timestamp", "string"], view) == "text"


def test_over_the_budget_the_fields_most_records_hold_get_the_columns() -> None:
    view = ViewSpec(objects=("customFields",))
    junk = [(["customFields", f"extra_{i:04}"], ["number"]) for i in range(mirror.MAX_VIEW_COLUMNS)]
    fields = [*junk, (["customFields", "latitude"], ["number"])]
    _, none = assign_view_columns(fields, view)
    assert ["customFields", "latitude"] in none  # sorted after the junk, nothing left for it
    held = {tuple(p): 1 for p, _ in junk} | {("customFields", "latitude"): 1_000}
    columns, none = assign_view_columns(fields, view, None, held)
    assert "latitude" in {c.name for c in columns} and len(none) == 1
