"""Typed views for analysts: mirror_view.<table>, one typed column per field seen, named once
and kept (syncer.stream_columns), deleted rows hidden.

The view's DDL is built here (it depends on the fields a stream has shown): identifiers are
validated and quoted (names.quote), every JSON path and field name goes in as a literal the
server quoted (base.server_quoted). Every other query is a named one.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from syncer import names
from syncer.mirror.base import (
    ENGINE_COLUMNS,
    Part,
    Quote,
    StreamRef,
    server_quoted,
    translate_errors,
)
from syncer.models import StreamStats, ViewSpec
from syncer.sql import for_table, queries

log = structlog.get_logger(__name__)

_SEP = "\x1f"  # joins a field path into one raw key; cannot occur in a JSON object key we keep


class Views(Part):
    """The typed views of the mirror tables."""

    async def refresh(
        self, ref: StreamRef, view: ViewSpec | None = None, stats: StreamStats | None = None
    ) -> str:
        """(Re)create mirror_view.<table>: one typed column per field seen, deleted rows hidden.

        Column names come from syncer.stream_columns (a field keeps the name it was first
        given); a column whose type changed, and fields left without a column, become warnings
        in `stats`."""
        view = view or ViewSpec()
        with translate_errors(f"creating the typed view of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                columns, warnings = await self.columns(conn, ref, view)
                ddl = await server_quoted(
                    conn, lambda quote: view_ddl(ref.table, columns, view, quote)
                )
                await conn.execute(for_table("drop_view", ref.table))
                await conn.execute(ddl)
        for warning in warnings:
            log.warning("view.changed", stream=ref.stream, message=warning)
            if stats is not None:
                stats.warn(warning, once=True)
        return f"mirror_view.{ref.table}"

    async def columns(
        self, conn: PoolConnectionProxy[asyncpg.Record], ref: StreamRef, view: ViewSpec
    ) -> tuple[list[ViewColumn], list[str]]:
        """The stream's typed-view columns, new fields given names (persisted in the caller's
        transaction), and the warnings that go with the change."""
        await conn.execute(queries["lock_stream_columns"], ref.stream_id)
        fields = [
            (list(r["path"]), list(r["kinds"]))
            for r in await conn.fetch(queries["stream_fields"], ref.stream_id)
        ]
        stored = {
            tuple(r["path"]): (r["column_name"], r["column_type"])
            for r in await conn.fetch(queries["stream_columns"], ref.stream_id)
        }
        columns, unassigned = assign_view_columns(fields, view, stored)
        if unassigned:
            # over the budget: the fields most records hold get the columns left
            held = await self._prevalence(conn, ref, view)
            columns, unassigned = assign_view_columns(fields, view, stored, held)
        writes: list[tuple[int, list[str], str | None, str | None]] = []
        warnings: list[str] = []
        for column in columns:
            before = stored.get(tuple(column.path))
            if before is None or before[1] != column.sql_type:
                writes.append((ref.stream_id, column.path, column.name, column.sql_type))
            if before is not None and before[1] is not None and before[1] != column.sql_type:
                warnings.append(
                    f"column {column.name} of mirror_view.{ref.table} changed type from "
                    f"{before[1]} to {column.sql_type}: field {'.'.join(column.path)} now holds "
                    f"{' and '.join(column.kinds)} values"
                )
        writes += [(ref.stream_id, path, None, None) for path in unassigned]
        if unassigned:
            warnings.append(
                f"{len(unassigned)} fields of {ref.stream} have no column in "
                f"mirror_view.{ref.table} (a view holds at most {MAX_VIEW_COLUMNS} typed "
                f"columns); their values stay in _data"
            )
        await conn.executemany(queries["assign_column"], writes)
        return columns, warnings

    async def _prevalence(
        self, conn: PoolConnectionProxy[asyncpg.Record], ref: StreamRef, view: ViewSpec
    ) -> dict[tuple[str, ...], int]:
        """field path -> how many mirrored records hold it (top level and the view's objects)."""
        counts: dict[tuple[str, ...], int] = {}
        for container in ("", *view.objects):
            rows = await conn.fetch(
                for_table("key_prevalence", ref.table), [container] if container else []
            )
            for r in rows:
                counts[(container, r["k"]) if container else (r["k"],)] = r["n"]
        return counts

    async def exists(self, ref: StreamRef) -> bool:
        with translate_errors("looking for the typed view"):
            found = await self.pool.fetchval(queries["view_exists"], f"mirror_view.{ref.table}")
        return bool(found)


#: a number written as text (a declared numeric field's string values)
_NUMERIC_TEXT = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


def _value_ref(path: list[str], view: ViewSpec, quote: Quote, source: str = "_data") -> str:
    """SQL for the JSON value at `path`: a key path, or a name looked up in a {name, value} list."""
    lists = {pivot.container: pivot for pivot in view.lists}
    if len(path) == 2 and path[0] in lists:
        pivot = lists[path[0]]
        query = f"$.{pivot.list_key}[*] ? (@.{pivot.name_key} == $n).{pivot.value_key}"
        if not all(
            part.isidentifier() for part in (pivot.list_key, pivot.name_key, pivot.value_key)
        ):
            raise ValueError(f"unsupported list field {pivot!r}")
        return (
            f"pg_catalog.jsonb_path_query_first({source}, {quote(query)}::jsonpath, "
            f"pg_catalog.jsonb_build_object('n', {quote(path[1])}::text))"
        )
    return f"({source} #> ARRAY[" + ", ".join(f"{quote(p)}::text" for p in path) + "])"


def typed_column(
    path: list[str], kinds: list[str], view: ViewSpec, quote: Quote, source: str = "_data"
) -> str:
    """The typed expression for one field, safe against values of another type."""
    ref = _value_ref(path, view, quote, source)
    text = f"({ref} #>> '{{}}')"
    sql_type = column_type(path, kinds, view)
    if sql_type == "numeric" and path[-1] in view.numeric:
        return (
            f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'number' THEN {text}::numeric "
            f"WHEN {text} ~ {quote(_NUMERIC_TEXT)} THEN pg_catalog.btrim({text})::numeric END"
        )
    if sql_type == "timestamptz" and "local_timestamp" in kinds:
        # written without an offset: read in the vendor's zone, never the session's
        return f"syncer.try_timestamptz_in({text}, {quote(view.time_zone)})"
    return {
        "numeric": f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'number' THEN {text}::numeric END",
        "boolean": f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'boolean' THEN {text}::boolean END",
        "timestamptz": f"syncer.try_timestamptz({text})",
        "date": f"syncer.try_date({text})",
        "text": text,
    }.get(sql_type, ref)


def column_type(path: list[str], kinds: list[str], view: ViewSpec) -> str:
    """The SQL type of a field's typed-view column, from the JSON kinds its values had: one
    kind gives its type, strings of several shapes give text, anything else mixed gives jsonb
    (a declared numeric field takes numbers and numeric strings)."""
    kinds = sorted(set(kinds) - {"null"})
    if path[-1] in view.numeric and set(kinds) <= {"number", "string"}:
        return "numeric"
    if path[-1] in view.instants and set(kinds) <= {"timestamp"}:
        return "timestamptz"
    single = {
        "number": "numeric",
        "boolean": "boolean",
        "timestamp": "timestamptz",
        "local_timestamp": "timestamptz",
    }
    if len(kinds) == 1 and kinds[0] in {*single, "date"}:
        return single.get(kinds[0], "date")
    if kinds and set(kinds) <= {"string", "timestamp", "local_timestamp", "date"}:
        return "text"
    return "jsonb"


#: typed columns per view at most: Postgres allows 1,600 per relation, and the engine columns
#: need a few; fields past the budget get no column (a run warning says so), values in _data
MAX_VIEW_COLUMNS = 1_500


@dataclass(frozen=True)
class ViewColumn:
    """One typed column of a stream's view."""

    name: str
    path: list[str]
    kinds: list[str]
    sql_type: str


def assign_view_columns(
    fields: list[tuple[list[str], list[str]]],
    view: ViewSpec,
    stored: dict[tuple[str, ...], tuple[str | None, str | None]] | None = None,
    prevalence: dict[tuple[str, ...], int] | None = None,
) -> tuple[list[ViewColumn], list[list[str]]]:
    """(the view's columns, the new paths that get no column) for a stream's fields.

    A path in `stored` (path -> (column name or None, type)) keeps its name; new paths get
    normalised names that no stored column, engine column or other new path has, in order:
    nested fields (custom fields, attributes) before top-level ones, so a new nested field
    keeps its plain name when a new top-level one would collide. Once MAX_VIEW_COLUMNS paths
    hold a column, further new paths get none; with `prevalence` (path -> records holding it)
    the new paths most records hold come first for the columns left.
    """
    stored = stored or {}
    containers = set(view.objects) | {pivot.container for pivot in view.lists}
    nested = [(p, k) for p, k in fields if len(p) == 2 and p[0] in containers]
    top = [(p, k) for p, k in fields if len(p) == 1 and p[0] not in containers and p[0] != "_id"]
    ordered = nested + top
    fresh = [(p, k) for p, k in ordered if tuple(p) not in stored]
    if prevalence is not None:
        fresh.sort(key=lambda field: -prevalence.get(tuple(field[0]), 0))
    taken = {name for name, _ in stored.values() if name is not None}
    mapping = names.assign_columns(
        ((_SEP.join(p), p[-1]) for p, _ in fresh),
        reserved=set(ENGINE_COLUMNS) | {"_data"} | taken,
    )
    budget = MAX_VIEW_COLUMNS - len(taken)
    given: dict[tuple[str, ...], str | None] = {}
    for path, _ in fresh:
        given[tuple(path)] = mapping[_SEP.join(path)] if budget > 0 else None
        budget -= 1
    columns = []
    for path, kinds in ordered:
        name = stored[tuple(path)][0] if tuple(path) in stored else given[tuple(path)]
        if name is not None:
            columns.append(ViewColumn(name, path, kinds, column_type(path, kinds, view)))
    return columns, [list(path) for path, name in given.items() if name is None]


def view_ddl(table: str, columns: list[ViewColumn], view: ViewSpec, quote: Quote) -> str:
    """CREATE VIEW text for a stream's typed view. Field paths go in as literals that `quote`
    makes (the server's quote_literal: see `server_quoted`), never as identifiers."""
    cols = ["_pk"]
    for column in columns:
        expression = typed_column(column.path, column.kinds, view, quote)
        cols.append(f"{expression} AS {names.quote(column.name)}")
    cols += ["_data", "_source_updated_at", "_synced_at", "_run_id"]
    table_q = names.quote(table)
    where = "_deleted_at IS NULL"
    if view.soft_delete is not None:
        # the vendor's own soft delete: kept in the mirror, out of the analyst's view
        where += f" AND (_data -> {quote(view.soft_delete)}::text) IS DISTINCT FROM 'true'::jsonb"
    return (
        f"CREATE VIEW mirror_view.{table_q} AS SELECT "
        + ", ".join(cols)
        + f" FROM mirror.{table_q} WHERE {where}"
    )
