"""Exclusion and keyed hashing of a record's fields (syncer/redact.py), and the config checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from syncer import errors, records, redact
from syncer.models import ListField, ViewSpec
from syncer.settings import Config

KEY = "k3y-for-tests-only"
ACTITO_VIEW = ViewSpec(
    lists=(ListField("attributes"), ListField("subscriptions", value_key="subscribe"))
)


def expected(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def redaction(exclude: tuple[str, ...] = (), hashed: tuple[str, ...] = ()) -> redact.Redaction:
    found = redact.Redaction(
        tuple(map(redact.parse_path, exclude)),
        tuple(map(redact.parse_path, hashed)),
        KEY.encode(),
        tuple((p.list_key, p.name_key, p.value_key) for p in ACTITO_VIEW.lists),
    )
    return found


def test_paths_parse_and_bad_ones_say_the_syntax() -> None:
    assert redact.parse_path("customFields.email") == redact.FieldPath(("customFields", "email"))
    assert redact.parse_path("attributes[emailAddress]") == redact.FieldPath(
        ("attributes",), "emailAddress"
    )
    for bad in ("", "a..b", "a[b].c", "a[]", ".a", "a[b][c]", " a"):
        with pytest.raises(ValueError, match="not a field path"):
            redact.parse_path(bad)


def test_exclude_drops_nested_fields_and_list_items_leaving_the_input_alone() -> None:
    record = {
        "customFields": {"email": "a@x.io", "city": "Lyon"},
        "attributes": [{"name": "emailAddress", "value": "a@x.io"}, {"name": "x", "value": 1}],
    }
    out = redaction(exclude=("customFields.email", "attributes[emailAddress]", "nope.a")).apply(
        record
    )
    assert out == {"customFields": {"city": "Lyon"}, "attributes": [{"name": "x", "value": 1}]}
    assert record["customFields"] == {"email": "a@x.io", "city": "Lyon"}  # untouched
    assert len(record["attributes"]) == 2


def test_hash_is_hmac_sha256_hex_of_the_text_and_null_stays_null() -> None:
    record = {
        "user": {"email": "a@x.io", "phone": None, "n": 12},
        "attributes": [{"name": "emailAddress", "value": "a@x.io"}],
        "subscriptions": [{"name": "Newsletter", "subscribe": True}],
    }
    out = redaction(
        hashed=(
            "user.email",
            "user.phone",
            "user.n",
            "attributes[emailAddress]",
            "subscriptions[Newsletter]",
        )
    ).apply(record)
    assert out["user"]["email"] == expected("a@x.io") == out["attributes"][0]["value"]
    assert out["user"]["phone"] is None
    assert out["user"]["n"] == expected("12")
    assert out["subscriptions"] == [{"name": "Newsletter", "subscribe": expected("true")}]


def test_prepare_hashes_the_redacted_record() -> None:
    red = redaction(exclude=("secret",), hashed=("email",))
    page = records.prepare(
        [{"id": "1", "email": "a@x.io", "secret": "s", "v": 1}],
        lambda r: r["id"],
        None,
        lenient=False,
        redact=red.apply,
    )
    [row] = page.rows
    stored = {"id": "1", "email": expected("a@x.io"), "v": 1}
    assert row.digest == records.content_hash(stored)
    assert "secret" not in row.text and "a@x.io" not in row.text
    assert {path for path, _ in page.fields} == {("id",), ("email",), ("v",)}


def test_the_key_is_never_in_the_repr() -> None:
    assert KEY not in repr(redaction(hashed=("email",)))


def connection(**conn: object) -> dict[str, object]:
    return {
        "name": "exto",
        "vendor": "exto",
        "base_url": "http://127.0.0.1:1/data",
        "token_env": "T",
        "rate_limit": 1,
        "streams": ["users"],
        **conn,
    }


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ({"exclude": ["a..b"]}, "not a field path"),
        ({"exclude": ["a", "a"]}, "more than once"),
        ({"exclude": ["a"], "hash": ["a"]}, "both excluded and hashed"),
        ({"hash": ["user.email"]}, "hash_key_env is not set"),
    ],
)
def test_bad_lists_fail_at_load(stream: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config.model_validate({"connections": [connection(per_stream={"users": stream})]})


def test_an_unset_key_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashing = {"users": {"hash": ["user.email"]}}
    config = Config.model_validate(
        {"connections": [connection(hash_key_env="MY_HASH_KEY", per_stream=hashing)]}
    )
    conn = config.connections[0]
    monkeypatch.delenv("MY_HASH_KEY", raising=False)
    with pytest.raises(errors.ConfigError, match="MY_HASH_KEY") as caught:
        redact.for_stream(conn, "users", ViewSpec())
    assert caught.value.exit_code == 6
    monkeypatch.setenv("MY_HASH_KEY", KEY)
    found = redact.for_stream(conn, "users", ViewSpec())
    assert found is not None and found.key == KEY.encode()


def test_list_changes_name_fields_as_the_typed_view_does() -> None:
    from syncer.mirror.redaction import field_path

    lists = (("attributes", "name", "value"), ("subscriptions", "name", "subscribe"))
    assert field_path("customFields.email", lists) == ["customFields", "email"]
    assert field_path("attributes[emailAddress]", lists) == [
        "attributes[name].value",
        "emailAddress",
    ]
    assert field_path("subscriptions[News]", lists) == ["subscriptions[name].subscribe", "News"]
    assert ACTITO_VIEW.lists[0].container == "attributes[name].value"


def test_an_excluded_updated_at_still_moves_the_cursor() -> None:
    """`_source_updated_at` (and so the incremental cursor) is read before the lists apply."""
    red = redaction(exclude=("updatedAt",))
    record = {"id": "1", "updatedAt": "2025-02-27T02:22:42.000Z"}
    [row] = records.prepare(
        [record], lambda r: r["id"], "updatedAt", lenient=False, redact=red.apply
    ).rows
    assert row.updated_at is not None and row.updated_at.year == 2025
    assert "updatedAt" not in row.text
