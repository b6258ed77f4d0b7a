"""Which columns a typed view publishes, and the log entries and comments that go with them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from syncer.mirror.view_schema import (
    ENGINE_DOCS,
    MAX_TYPED_COLUMNS,
    Described,
    Plan,
    Published,
    Wanted,
    comments_sql,
    plan_publication,
)
from syncer.mirror.views import view_ddl
from syncer.models import ViewSpec

LAT = ("customFields", "latitude")


def _tagged(value: str) -> str:
    return f"<{value}>"


def test_a_new_field_is_published_under_its_name() -> None:
    plan = plan_publication([Wanted("latitude", LAT, "numeric", ("number",))], [], "exto__m", set())
    fresh, changes = plan.fresh, plan.changes
    assert fresh == [Published("latitude", LAT, "numeric")]
    [change] = changes
    assert (change.kind, change.column, change.old_type, change.new_type) == (
        "new_field",
        "latitude",
        None,
        "numeric",
    )


def test_a_type_change_adds_a_column_and_keeps_the_old_one() -> None:
    published = [Published("latitude", LAT, "numeric")]
    wanted = [Wanted("latitude", LAT, "jsonb", ("number", "string"))]
    plan = plan_publication(wanted, published, "exto__m", set())
    fresh, changes = plan.fresh, plan.changes
    assert fresh == [Published("latitude_jsonb", LAT, "jsonb")]
    [change] = changes
    assert (change.kind, change.column, change.old_type, change.new_type) == (
        "type_change",
        "latitude_jsonb",
        "numeric",
        "jsonb",
    )
    assert "column latitude of mirror_view.exto__m keeps type numeric" in change.detail
    # published once: nothing more to do the next time
    assert plan_publication(wanted, published + fresh, "exto__m", set()) == Plan([], [], [])


def test_a_type_change_column_never_takes_a_name_in_use() -> None:
    published = [Published("latitude", LAT, "numeric")]
    wanted = [Wanted("latitude", LAT, "jsonb", ("number", "string"))]
    fresh = plan_publication(wanted, published, "exto__m", {"latitude_jsonb"}).fresh
    assert fresh[0].name.startswith("latitude_jsonb_") and fresh[0].name != "latitude_jsonb"


def test_a_full_view_publishes_nothing_more_and_says_which_fields_wanted_a_column() -> None:
    published = [Published(f"f{i}", (f"f{i}",), "text") for i in range(MAX_TYPED_COLUMNS - 1)]
    wanted = [Wanted("a", ("a",), "text", ("string",)), Wanted("b", ("b",), "text", ("string",))]
    plan = plan_publication(wanted, published, "exto__m", set())
    assert [c.name for c in plan.fresh] == ["a"] and [w.name for w in plan.left_out] == ["b"]
    assert [c.column for c in plan.changes] == ["a"]


def test_replacing_keeps_the_existing_columns_in_place_and_appends() -> None:
    published = [
        Published("latitude", LAT, "numeric"),
        Published("region", ("customFields", "region"), "text"),
        Published("latitude_jsonb", LAT, "jsonb"),
    ]
    existing = [
        ("_pk", "text"),
        ("latitude", "numeric"),
        ("gone", "date"),
        ("_data", "jsonb"),
        ("_source_updated_at", "timestamp with time zone"),
        ("_synced_at", "timestamp with time zone"),
        ("_run_id", "bigint"),
    ]
    ddl = view_ddl("exto__m", published, existing, ViewSpec(objects=("customFields",)), _tagged)
    assert ddl.startswith('CREATE OR REPLACE VIEW mirror_view."exto__m" AS SELECT _pk AS "_pk", ')
    order = [
        part.rsplit(" AS ", 1)[1] for part in ddl.split(" FROM ")[0].split(", ") if " AS " in part
    ]
    assert order == [
        '"_pk"',
        '"latitude"',
        '"gone"',
        '"_data"',
        '"_source_updated_at"',
        '"_synced_at"',
        '"_run_id"',
        '"region"',
        '"latitude_jsonb"',
    ]
    assert 'NULL::date AS "gone"' in ddl


def test_comments_are_literals_the_quoter_makes() -> None:
    seen = datetime(2026, 1, 2, tzinfo=UTC)
    described = Described(
        "exto__m",
        "exto",
        "master:M",
        "exto",
        {"it_s": (("customFields", "it's"), ("string",), seen, seen)},
    )
    sql = comments_sql(described, ["_pk", "it_s", "_data"], _tagged)
    assert 'COMMENT ON COLUMN mirror_view."exto__m"."it_s" IS <Field customFields.it\'s' in sql
    assert "first seen 2026-01-02 00:00:00 UTC>" in sql
    assert sql.count("COMMENT ON COLUMN mirror.") == len(ENGINE_DOCS)
    assert "'" not in re.sub(r"<[^>]*>", "", sql)  # no text outside the quoter's literals
