"""Config validation errors and identifier normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import errors, names
from syncer.mirror import view_ddl
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


def test_view_columns_prefer_custom_fields_and_escape_paths() -> None:
    ddl = view_ddl(
        "exto__m",
        [
            (["customFields", "name"], ["string"]),
            (["name"], ["string"]),
            (["customFields", "it's"], ["number"]),
        ],
        ViewSpec(objects=("customFields",)),
    )
    assert ' AS "name"' in ddl and "'it''s'" in ddl and ' AS "it_s"' in ddl
    assert ddl.count(' AS "name') == 2


def test_view_pivots_lists_and_casts_declared_numeric_strings() -> None:
    pivot = ListField("attributes")
    ddl = view_ddl(
        "actito__p",
        [([pivot.container, "email"], ["string"]), (["quantity"], ["string"])],
        ViewSpec(lists=(pivot,), numeric=frozenset({"quantity"})),
    )
    assert "jsonb_path_query_first(_data, '$.attributes[*] ? (@.name == $n).value'" in ddl
    assert "jsonb_build_object('n', 'email')" in ddl and ' AS "email"' in ddl
    assert "trim(((_data #> ARRAY['quantity']) #>> '{}'))::numeric END AS \"quantity\"" in ddl
