"""What a typed view publishes, and what it tells the analyst about itself.

A typed view is replaced, never dropped (an analyst's views and materialized views on it would
go, or make the drop fail): Postgres's CREATE OR REPLACE VIEW keeps every existing column's
name, type and place and may only add columns at the end. So a published column never changes
type: when a field's values change kind, its column keeps its type (holding the values that
still fit, NULL for the others) and a new column `<name>_<type>` holds the field in its new
type. This module decides which columns a refresh publishes, and the schema-change log entries
and comments that go with them; mirror/views.py runs the SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from syncer import names
from syncer.mirror.base import Quote

#: complete full passes a field with a column may be absent from before the schema-change log
#: says so (once; the column stays, its older values with it): one pass missing a field is
#: common (a vendor leaving out empty fields), three in a row is a field that went away
ABSENT_PASSES = 3

#: what each engine column means, for COMMENT ON (the mirror table's and the typed view's)
ENGINE_DOCS = {
    "_pk": "The record's key at the vendor, as text (the vendor's id, or the stream's key fields).",
    "_data": "The record as the vendor last sent it (JSON); every field, typed or not.",
    "_hash": "Hash of _data: a record is rewritten only when it changes.",
    "_source_updated_at": (
        "When the vendor says the record last changed (its updated-at field); NULL where the "
        "vendor has none."
    ),
    "_synced_at": (
        "When syncer last wrote this row (a change, an insert or a delete); an unchanged record "
        "keeps its time, so this is not the mirror's freshness: see mirror_meta."
    ),
    "_deleted_at": (
        "When syncer found the record gone from the vendor (confirmed, never on one pass's "
        "word); NULL while it exists. The typed view shows only rows where it is NULL."
    ),
    "_run_id": "The sync run that last wrote this row (mirror_meta's run history has it).",
}

#: the version of the typed views' definition (their expressions, their WHERE), written in
#: each view's comment: change it with the definition, and every view is replaced once, at its
#: stream's next run, even where no field changed
VIEW_VERSION = "3"

#: the engine columns of a typed view, after its typed columns when the view is first made
VIEW_TAIL = ("_data", "_source_updated_at", "_synced_at", "_run_id")

#: typed columns a view may publish, type-change columns included: Postgres allows 1,600
#: columns per relation, and _pk and VIEW_TAIL take five
MAX_TYPED_COLUMNS = 1_600 - 1 - len(VIEW_TAIL)


@dataclass(frozen=True)
class Published:
    """One typed column a view has published: it keeps its name, type and place for good."""

    name: str
    path: tuple[str, ...]
    sql_type: str
    added_at: datetime | None = None


@dataclass(frozen=True)
class SchemaChange:
    """One entry of the schema-change log (syncer.schema_changes)."""

    kind: str
    path: tuple[str, ...]
    column: str | None
    old_type: str | None
    new_type: str | None
    detail: str


@dataclass(frozen=True)
class Wanted:
    """A field's column as the field's values stand now: its name and type, and their kinds."""

    name: str
    path: tuple[str, ...]
    sql_type: str
    kinds: tuple[str, ...]


def dotted(path: Sequence[str]) -> str:
    return ".".join(path)


@dataclass(frozen=True)
class Plan:
    """What a refresh publishes: new columns, the log entries they are, and the fields that
    wanted a column the view has no room for (Postgres allows 1,600 per relation)."""

    fresh: list[Published]
    changes: list[SchemaChange]
    left_out: list[Wanted]


def plan_publication(
    wanted: Iterable[Wanted], published: Sequence[Published], table: str, reserved: set[str]
) -> Plan:
    """The columns to publish now for a view's wanted columns, and the changes they are.

    A field with no published column gets its own name (new_field). A field whose published
    columns all have another type than its values now want gets one more, `<name>_<type>`,
    named clear of `reserved` and every published name (type_change); its earlier columns stay
    as they are. Past MAX_TYPED_COLUMNS, nothing more is published.
    """
    by_path: dict[tuple[str, ...], list[Published]] = {}
    for column in published:
        by_path.setdefault(column.path, []).append(column)
    taken = set(reserved) | {c.name for c in published}
    fresh: list[Published] = []
    changes: list[SchemaChange] = []
    left_out: list[Wanted] = []
    view = f"mirror_view.{table}"
    for want in wanted:
        have = by_path.get(want.path, [])
        if any(c.sql_type == want.sql_type for c in have):
            continue
        if len(published) + len(fresh) >= MAX_TYPED_COLUMNS:
            left_out.append(want)
            continue
        if not have:
            column = Published(want.name, want.path, want.sql_type)
            changes.append(
                SchemaChange(
                    "new_field",
                    want.path,
                    column.name,
                    None,
                    want.sql_type,
                    f"field {dotted(want.path)} got column {column.name} ({want.sql_type}) "
                    f"in {view}",
                )
            )
        else:
            raw = "\x1f".join((*want.path, want.sql_type))
            name = names.assign_columns([(raw, f"{want.name}_{want.sql_type}")], taken)[raw]
            column = Published(name, want.path, want.sql_type)
            old = have[-1]
            changes.append(
                SchemaChange(
                    "type_change",
                    want.path,
                    name,
                    old.sql_type,
                    want.sql_type,
                    f"field {dotted(want.path)} changed type (its values are now "
                    f"{' and '.join(want.kinds)}): column {old.name} of {view} keeps type "
                    f"{old.sql_type} (NULL where a value is not one), new column {name} holds "
                    f"the field as {want.sql_type}",
                )
            )
        taken.add(column.name)
        by_path.setdefault(want.path, []).append(column)
        fresh.append(column)
    return Plan(fresh, changes, left_out)


def absent_change(path: Sequence[str], column: str, table: str) -> SchemaChange:
    """The log entry of a field no complete pass has seen for ABSENT_PASSES passes in a row."""
    return SchemaChange(
        "field_absent",
        tuple(path),
        column,
        None,
        None,
        f"field {dotted(path)} was in no record of the last {ABSENT_PASSES} complete passes; "
        f"column {column} stays in mirror_view.{table} (NULL for records without the field)",
    )


@dataclass(frozen=True)
class Described:
    """What the comments of a stream's table and view say about it."""

    table: str
    connection: str
    stream: str
    vendor: str | None
    #: typed column name -> (field path, JSON kinds seen, field first seen, column added)
    columns: dict[str, tuple[tuple[str, ...], tuple[str, ...], datetime | None, datetime | None]]


def comments_sql(described: Described, view_columns: Sequence[str], quote: Quote) -> str:
    """COMMENT ON the mirror table, the typed view and each of the view's columns (engine
    columns on both), in one text; every comment is a literal `quote` makes (the server's)."""
    d = described
    table_q = names.quote(d.table)
    source = f"{d.vendor} stream {d.stream}" if d.vendor else f"stream {d.stream}"
    statements = [
        f"COMMENT ON TABLE mirror.{table_q} IS "
        + quote(
            f"Mirror of {source} (connection {d.connection}): one row per record, the record "
            f"in _data; deleted records stay, with _deleted_at. Typed: mirror_view.{d.table}."
        ),
        f"COMMENT ON VIEW mirror_view.{table_q} IS "
        + quote(
            f"Live records of {source} (connection {d.connection}), one typed column per field "
            f"of mirror.{d.table}._data. Columns are only ever added, never dropped or retyped: "
            "a field whose type changed gets a new column <name>_<type> (the schema-change log "
            f"in mirror_meta says when). {version_mark()}"
        ),
    ]
    for name, text in ENGINE_DOCS.items():
        statements.append(
            f"COMMENT ON COLUMN mirror.{table_q}.{names.quote(name)} IS {quote(text)}"
        )
    for name in view_columns:
        if name in ENGINE_DOCS:
            text = ENGINE_DOCS[name]
        elif name in d.columns:
            path, kinds, first_seen, added = d.columns[name]
            text = (
                f"Field {dotted(path)} of the {source} records (JSON kinds seen: "
                f"{', '.join(kinds) or 'none'}); first seen {_day(first_seen)}"
            )
            if added is not None and first_seen is not None and added > first_seen:
                text += f"; this column since {_day(added)}, when the field changed type"
        else:
            continue
        statements.append(
            f"COMMENT ON COLUMN mirror_view.{table_q}.{names.quote(name)} IS {quote(text)}"
        )
    return ";\n".join(statements)


def version_mark() -> str:
    """What a typed view's comment holds when the view has this version's definition."""
    return f"[syncer typed view v{VIEW_VERSION}]"


def _day(moment: datetime | None) -> str:
    return "unknown" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
