"""Typed views for analysts: mirror_view.<table>, one typed column per field seen, named once
and kept (syncer.stream_columns), deleted rows hidden.

The view's DDL is built here (it depends on the fields a stream has shown): identifiers are
validated and quoted (names.quote), every JSON path and field name goes in as a literal the
server quoted (base.server_quoted). Every other query is a named one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from syncer import names
from syncer.mirror import schema_log
from syncer.mirror.base import (
    ENGINE_COLUMNS,
    Fence,
    Part,
    Quote,
    StreamRef,
    server_quoted,
    translate_errors,
)
from syncer.mirror.view_columns import MAX_VIEW_COLUMNS, name_columns
from syncer.mirror.view_schema import (
    MAX_TYPED_COLUMNS,
    VIEW_TAIL,
    Described,
    Published,
    SchemaChange,
    Wanted,
    comments_sql,
    plan_publication,
    version_mark,
)
from syncer.models import StreamStats, ViewSpec
from syncer.sql import for_table, queries

log = structlog.get_logger(__name__)


#: how long replacing a typed view waits for analysts' queries on it: the replacement needs
#: the view to itself, and while it waits every new query on the view queues behind it
VIEW_LOCK_TIMEOUT = "5s"


class Views(Part):
    """The typed views of the mirror tables."""

    async def refresh(
        self,
        ref: StreamRef,
        view: ViewSpec | None = None,
        stats: StreamStats | None = None,
        *,
        run_id: int | None = None,
        vendor: str | None = None,
    ) -> str:
        """Create mirror_view.<table>, or replace it keeping every column it has: one typed
        column per field seen, deleted rows hidden, everything commented.

        Never dropped, so an analyst's objects on it survive (view_schema says how a type
        change is published). Column names come from syncer.stream_columns (a field keeps the
        name it was first given). New columns and type changes go to the schema-change log
        with `run_id`, and become warnings in `stats` (new columns only once the view exists),
        as do fields left without a column. Should the view not be replaced (Postgres refuses
        the new definition, or analysts' queries hold it past VIEW_LOCK_TIMEOUT), it stays as it
        was, a warning says why, the sync goes on, and the next run tries again."""
        view = view or ViewSpec()
        qualified = f"mirror_view.{ref.table}"
        with translate_errors(f"creating the typed view of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                columns, warnings = await self.columns(conn, ref, view)
                try:
                    async with conn.transaction():
                        await conn.execute(queries["view_lock_timeout"], VIEW_LOCK_TIMEOUT)
                        changes = await self._replace(
                            conn, ref, view, columns, run_id, vendor, warnings
                        )
                except asyncpg.PostgresError as exc:
                    if isinstance(exc, asyncpg.PostgresConnectionError):
                        raise
                    changes = []
                    warnings.append(
                        f"{qualified} was left as it is: it could not be replaced ({exc}); "
                        "the next run tries again"
                    )
        for warning in warnings + [c.detail for c in changes]:
            log.warning("view.changed", stream=ref.stream, message=warning)
            if stats is not None:
                stats.warn(warning, once=True)
        return qualified

    async def _replace(
        self,
        conn: PoolConnectionProxy[asyncpg.Record],
        ref: StreamRef,
        view: ViewSpec,
        columns: list[ViewColumn],
        run_id: int | None,
        vendor: str | None,
        notes: list[str],
    ) -> list[SchemaChange]:
        """Publish the columns the fields now want, CREATE OR REPLACE the view, comment it,
        and log the changes; returns them (empty the first time the view is made), and adds
        to `notes` what could not be published."""
        qualified = f"mirror_view.{ref.table}"
        existing = [
            (r["attname"], r["type"])
            for r in await conn.fetch(queries["view_attributes"], qualified)
        ]
        published = [
            Published(r["column_name"], tuple(r["path"]), r["column_type"], r["added_at"])
            for r in await conn.fetch(queries["published_columns"], ref.stream_id)
        ]
        reserved = set(ENGINE_COLUMNS) | {"_data"} | {c.name for c in columns}
        wanted = [Wanted(c.name, tuple(c.path), c.sql_type, tuple(c.kinds)) for c in columns]
        plan = plan_publication(wanted, published, ref.table, reserved)
        fresh, changes = plan.fresh, plan.changes
        if plan.left_out:
            notes.append(
                f"{len(plan.left_out)} fields of {ref.stream} want a column "
                f"{qualified} has no room for ({MAX_TYPED_COLUMNS} typed columns at most, "
                f"type-change columns included), e.g. {'.'.join(plan.left_out[0].path)} as "
                f"{plan.left_out[0].sql_type}; their values stay in _data"
            )
        await conn.executemany(
            queries["publish_column"],
            [(ref.stream_id, c.name, list(c.path), c.sql_type, run_id) for c in fresh],
        )
        now = await conn.fetchval(queries["transaction_time"])
        published += [dataclasses.replace(c, added_at=now) for c in fresh]
        ddl = await server_quoted(
            conn, lambda quote: view_ddl(ref.table, published, existing, view, quote)
        )
        await conn.execute(ddl)
        kinds = {tuple(c.path): tuple(c.kinds) for c in columns}
        seen = {
            tuple(r["path"]): r["assigned_at"]
            for r in await conn.fetch(queries["fields_first_seen"], ref.stream_id)
        }
        described = Described(
            ref.table,
            ref.connection,
            ref.stream,
            vendor,
            {
                c.name: (c.path, kinds.get(c.path, ()), seen.get(c.path), c.added_at)
                for c in published
            },
        )
        names_now = [r["attname"] for r in await conn.fetch(queries["view_attributes"], qualified)]
        await conn.execute(
            await server_quoted(conn, lambda quote: comments_sql(described, names_now, quote))
        )
        await schema_log.log_changes(conn, ref, run_id, changes)
        return changes if existing else []

    async def note_complete_pass(
        self,
        ref: StreamRef,
        pass_id: int,
        run_id: int | None,
        fence: Fence,
        stats: StreamStats | None = None,
    ) -> list[SchemaChange]:
        """After a complete full pass (before it is closed): count, per field with a column,
        the complete passes in a row that did not see it; one that reaches ABSENT_PASSES
        goes to the schema-change log and becomes a run warning. Its column stays. Fenced: a
        run that lost the stream's lock counts nothing."""
        with translate_errors(f"noting the fields the pass of {ref.stream} saw"):
            async with self.fenced(fence) as conn:
                changes = await schema_log.absent_fields(conn, ref, pass_id, run_id)
        for change in changes:
            log.warning("view.field_absent", stream=ref.stream, message=change.detail)
            if stats is not None:
                stats.warn(change.detail, once=True)
        return changes

    async def columns(
        self, conn: PoolConnectionProxy[asyncpg.Record], ref: StreamRef, view: ViewSpec
    ) -> tuple[list[ViewColumn], list[str]]:
        """The stream's wanted typed-view columns (a field's name, the type its values want
        now), new fields given names (persisted in the caller's transaction), and the warnings
        that go with them."""
        await conn.execute(queries["lock_stream_columns"], ref.stream_id)
        fields = [
            (list(r["path"]), list(r["kinds"]))
            for r in await conn.fetch(queries["stream_fields"], ref.stream_id)
        ]
        stored = {
            tuple(r["path"]): (r["column_name"], r["column_type"])
            for r in await conn.fetch(queries["stream_columns"], ref.stream_id)
        }
        # a column a type change added holds a name no new field may take
        extra = {
            r["column_name"] for r in await conn.fetch(queries["published_columns"], ref.stream_id)
        }
        columns, unassigned = assign_view_columns(fields, view, stored, reserved=extra)
        if unassigned:
            # over the budget: the fields most records hold get the columns left
            held = await self._prevalence(conn, ref, view)
            columns, unassigned = assign_view_columns(fields, view, stored, held, extra)
        writes: list[tuple[int, list[str], str | None, str | None]] = []
        warnings: list[str] = []
        for column in columns:
            before = stored.get(tuple(column.path))
            if before is None or before[1] != column.sql_type:
                writes.append((ref.stream_id, column.path, column.name, column.sql_type))
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
        """Whether the typed view is there as this version defines it (view_schema's
        VIEW_VERSION) with every column its fields want: else the run refreshes it."""
        with translate_errors("looking for the typed view"):
            found = await self.pool.fetchval(
                queries["view_current"], f"mirror_view.{ref.table}", ref.stream_id, version_mark()
            )
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
    return typed_expression(path, column_type(path, kinds, view), view, quote, source)


def typed_expression(
    path: Sequence[str], sql_type: str, view: ViewSpec, quote: Quote, source: str = "_data"
) -> str:
    """The expression of a column of type `sql_type` for the field at `path`: a value that
    is not of that type gives NULL."""
    path = list(path)
    ref = _value_ref(path, view, quote, source)
    text = f"({ref} #>> '{{}}')"
    if sql_type == "numeric" and path[-1] in view.numeric:
        return (
            f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'number' THEN {text}::numeric "
            f"WHEN {text} ~ {quote(_NUMERIC_TEXT)} THEN pg_catalog.btrim({text})::numeric END"
        )
    return {
        "numeric": f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'number' THEN {text}::numeric END",
        "boolean": f"CASE WHEN pg_catalog.jsonb_typeof({ref}) = 'boolean' THEN {text}::boolean END",
        # a stamp without an offset is read in the vendor's zone, never the session's
        "timestamptz": f"syncer.try_timestamptz_in({text}, {quote(view.time_zone)})",
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


@dataclass(frozen=True)
class ViewColumn:
    """One typed column of a stream's view, as its field's values want it now."""

    name: str
    path: list[str]
    kinds: list[str]
    sql_type: str


def assign_view_columns(
    fields: list[tuple[list[str], list[str]]],
    view: ViewSpec,
    stored: dict[tuple[str, ...], tuple[str | None, str | None]] | None = None,
    prevalence: dict[tuple[str, ...], int] | None = None,
    reserved: set[str] | None = None,
) -> tuple[list[ViewColumn], list[list[str]]]:
    """(the view's columns, the new paths that get no column): view_columns.name_columns's
    names, each with the type its field's kinds give."""
    named, unassigned = name_columns(fields, view, stored, prevalence, reserved)
    return [
        ViewColumn(name, path, kinds, column_type(path, kinds, view)) for name, path, kinds in named
    ], unassigned


def view_ddl(
    table: str,
    published: Sequence[Published],
    existing: Sequence[tuple[str, str]],
    view: ViewSpec,
    quote: Quote,
) -> str:
    """CREATE OR REPLACE VIEW text for a stream's typed view: the `existing` view's columns
    (name, type) first, in their order, then the published columns it lacks, in the order
    they were published (a new view: _pk, the typed columns, the engine columns). A column of
    the existing view that nothing defines any more keeps its name and type, as NULL. Field
    paths go in as literals `quote` makes (the server's quote_literal: see `server_quoted`)."""
    expressions = {name: name for name in ("_pk", *VIEW_TAIL)}
    for column in published:
        expressions[column.name] = typed_expression(column.path, column.sql_type, view, quote)
    typed = [c.name for c in published]
    have = [name for name, _ in existing]
    order = (
        have + [n for n in (*typed, *VIEW_TAIL) if n not in have]
        if have
        else [
            "_pk",
            *typed,
            *VIEW_TAIL,
        ]
    )
    kept = dict(existing)
    cols = []
    for name in order:
        expression = expressions.get(name, f"NULL::{kept.get(name, 'text')}")
        cols.append(f"{expression} AS {names.quote(name)}")
    table_q = names.quote(table)
    where = "_deleted_at IS NULL"
    if view.soft_delete is not None:
        # the vendor's own soft delete: kept in the mirror, out of the analyst's view
        where += f" AND (_data -> {quote(view.soft_delete)}::text) IS DISTINCT FROM 'true'::jsonb"
    return (
        f"CREATE OR REPLACE VIEW mirror_view.{table_q} AS SELECT "
        + ", ".join(cols)
        + f" FROM mirror.{table_q} WHERE {where}"
    )
