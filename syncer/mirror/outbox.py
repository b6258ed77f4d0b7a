"""The outbox: syncer.outbox rows claimed, marked, accepted, released and dropped; the plan of
what a push would send; and desired-state tables diffed against the mirror into outbox rows.

The diff is built here (its columns come from config and from the fields the mirror has seen):
identifiers are validated and quoted (names.quote), JSON paths and field names are literals
the server quoted. Every other query is a named one (syncer/sql/queries.sql).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from syncer import names
from syncer.mirror.base import (
    Database,
    Fence,
    Part,
    Quote,
    StreamRef,
    collector,
    quote_literals,
    translate_errors,
)
from syncer.mirror.views import ViewColumn, Views, typed_column
from syncer.models import ViewSpec
from syncer.sql import queries
from syncer.stream_config import DesiredState


class OutboxState(StrEnum):
    """Where a syncer.outbox row stands."""

    #: waiting to be sent
    PENDING = "pending"
    #: claimed by a push; sent or about to be
    SENDING = "sending"
    #: the vendor applied it
    ACCEPTED = "accepted"
    #: the vendor refused it (its words in `message`); sent again on the next push
    REJECTED = "rejected"
    #: syncer could not make a request of it; never sent
    INVALID = "invalid"
    #: an operator dropped it
    DROPPED = "dropped"
    #: a later row of the same key made it moot; never sent again
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class OutboxRow:
    """A row of syncer.outbox claimed by a push."""

    id: int
    endpoint: str
    operation: str
    payload: Any
    #: what a non-idempotent write recorded before it was first sent (None: not sent yet)
    evidence: Any = None


class Outbox(Part):
    """syncer.outbox and the desired-state diffs that fill it."""

    def __init__(self, db: Database, views: Views) -> None:
        super().__init__(db)
        self.views = views

    async def next_push_id(self) -> int:
        with translate_errors("starting a push"):
            value: int = await self.pool.fetchval(queries["next_push_id"])
        return value

    async def claim(
        self, connection: str, push_id: int, limit: int, fence: Fence | None = None
    ) -> list[OutboxRow]:
        """Mark the next rows to send as 'sending' (committed before anything is sent)."""
        with translate_errors("claiming outbox rows"):
            async with self.fenced(fence) as conn:
                rows = await conn.fetch(queries["claim_outbox"], connection, push_id, limit)
        return sorted(
            (
                OutboxRow(
                    r["id"],
                    r["endpoint"],
                    r["operation"],
                    orjson.loads(r["payload"]),
                    None if r["evidence"] is None else orjson.loads(r["evidence"]),
                )
                for r in rows
            ),
            key=lambda row: row.id,
        )

    async def mark(
        self,
        ids: Sequence[int],
        state: str,
        messages: Sequence[str | None] | None = None,
        vendor_ids: Sequence[str | None] | None = None,
        fence: Fence | None = None,
    ) -> None:
        if not ids:
            return
        with translate_errors("recording push outcomes"):
            async with self.fenced(fence) as conn:
                await conn.execute(
                    queries["mark_outbox"],
                    list(ids),
                    state,
                    list(messages or [None] * len(ids)),
                    list(vendor_ids or [None] * len(ids)),
                )

    async def accept(
        self,
        ids: Sequence[int],
        vendor_ids: Sequence[str | None],
        superseded: Sequence[tuple[int, int]] = (),
        fence: Fence | None = None,
    ) -> None:
        """Mark rows accepted and, in the same transaction, the earlier rejected rows they
        supersede (rejected id, accepted id): a crash between the two would let a later push
        send a superseded row after the row that replaced it."""
        if not ids:
            return
        with translate_errors("recording push outcomes"):
            async with self.fenced(fence) as conn:
                nothing = [None] * len(ids)
                await conn.execute(
                    queries["mark_outbox"],
                    list(ids),
                    OutboxState.ACCEPTED,
                    nothing,
                    list(vendor_ids),
                )
                if superseded:
                    await conn.execute(
                        queries["supersede_outbox"],
                        [old for old, _ in superseded],
                        [later for _, later in superseded],
                    )

    async def release(self, ids: Sequence[int], message: str, fence: Fence | None = None) -> None:
        """Give rows a push claimed but did not send back to 'pending', saying why."""
        if not ids:
            return
        with translate_errors("releasing outbox rows"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["release_outbox"], list(ids), message)

    async def set_evidence(
        self, ids: Sequence[int], evidence: Sequence[Any], fence: Fence | None = None
    ) -> None:
        """Store, before rows are first sent, what tells later whether the vendor applied them."""
        if not ids:
            return
        texts = [orjson.dumps(e).decode() for e in evidence]
        with translate_errors("recording push evidence"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["set_outbox_evidence"], list(ids), texts)

    async def plan(self, connection: str | None) -> list[dict[str, Any]]:
        with translate_errors("reading the outbox"):
            return [dict(r) for r in await self.pool.fetch(queries["plan_outbox"], connection)]

    async def payloads(self, connection: str, endpoint: str, operation: str) -> list[Any]:
        """The payloads of the rows still to send for one endpoint and operation."""
        with translate_errors("reading the outbox"):
            rows = await self.pool.fetch(
                queries["outbox_payloads"], connection, endpoint, operation
            )
        return [orjson.loads(r["payload"]) for r in rows]

    async def drop(self, ids: Sequence[int]) -> tuple[list[int], dict[int, str | None]]:
        """Drop what can be dropped; the ids dropped, and every other id with its state (None:
        no such row)."""
        with translate_errors("dropping outbox rows"):
            async with self.pool.acquire() as conn, conn.transaction():
                dropped = [r["id"] for r in await conn.fetch(queries["drop_outbox"], list(ids))]
                states = {
                    r["id"]: r["state"]
                    for r in await conn.fetch(queries["outbox_states"], list(ids))
                }
        kept = {i: states.get(i) for i in ids if i not in dropped}
        return dropped, kept

    # -- desired state -----------------------------------------------------------------------

    async def desired_columns(
        self,
        ref: StreamRef | None,
        view: ViewSpec,
        desired: DesiredState,
        fields_at: Sequence[str],
    ) -> DesiredColumns:
        """Where each desired column's field sits in the mirrored records: the typed-view
        column of that name, else the field of that name under `fields_at` (always, for a
        stream not registered yet); with the literals the diff needs, quoted by the server."""
        with translate_errors("reading the stream's fields"):
            async with self.pool.acquire() as conn:
                known: list[ViewColumn] = []
                if ref is not None:
                    # the names the view has or will have; only a view refresh records them
                    rollback = conn.transaction()
                    await rollback.start()
                    try:
                        known, _ = await self.views.columns(conn, ref, view)
                    finally:
                        await rollback.rollback()
                by_name = {c.name: (c.path, c.kinds) for c in known}
                fields = {
                    c: by_name.get(c, ([*fields_at, c], [])) for c in [desired.key, *desired.fields]
                }
                wanted: list[str] = []
                desired_diff_sql(
                    desired,
                    None if ref is None else ref.table,
                    DesiredColumns(fields, collector(wanted)),
                    view,
                )
                quoted = await quote_literals(conn, wanted)
        return DesiredColumns(fields, quoted.__getitem__)

    async def enqueue_desired(
        self,
        connection: str,
        desired: DesiredState,
        diff: str,
        key_field: str,
        fence: Fence | None = None,
    ) -> tuple[int, int, int]:
        """Queue the desired rows that differ from the mirror; (to create, to update, replaced).

        The table's rows still outstanding from an earlier diff (pending, rejected, or left
        sending by a push that died) are superseded by this one, so the table keeps at most
        one outstanding row per key: the newest. `key_field` names the key in the payloads.
        """
        sql = (
            f"WITH diff AS ({diff}), "
            "queued AS (INSERT INTO syncer.outbox (connection, endpoint, operation, payload, "
            "source) SELECT $1, $3, 'upsert', row, $2 FROM diff RETURNING id, payload), "
            "replaced AS (UPDATE syncer.outbox o SET state = 'superseded', "
            "superseded_by = (SELECT pg_catalog.min(q.id) FROM queued q WHERE q.payload -> $4 = "
            "o.payload -> $4), message = 'replaced by a newer diff of ' || $2 || CASE WHEN "
            "EXISTS (SELECT FROM queued q WHERE q.payload -> $4 = o.payload -> $4) THEN '' "
            "ELSE ', which no longer asks for this change' END, updated_at = pg_catalog.now() "
            "WHERE o.connection = $1 AND o.source = $2 "
            "AND o.state IN ('pending', 'sending', 'rejected') RETURNING o.id) "
            "SELECT pg_catalog.count(*) FILTER (WHERE created) AS created, "
            "pg_catalog.count(*) FILTER (WHERE NOT created) AS updated, "
            "(SELECT pg_catalog.count(*) FROM replaced) AS replaced FROM diff"
        )
        with translate_errors(f"diffing {desired.table} against the mirror"):
            async with self.fenced(fence) as conn:
                row = await conn.fetchrow(
                    sql, connection, desired.table, desired.endpoint, key_field
                )
        assert row is not None
        return int(row["created"]), int(row["updated"]), int(row["replaced"])

    async def diff_desired(self, desired: DesiredState, diff: str) -> tuple[int, int, list[str]]:
        """(to create, to update, a few sample rows): the diff, sending and queueing nothing."""
        sql = (
            "SELECT pg_catalog.count(*) FILTER (WHERE created) AS created, "
            "pg_catalog.count(*) FILTER (WHERE NOT created) AS updated, "
            f"(pg_catalog.array_agg(row::text))[1:3] AS samples FROM ({diff}) d"
        )
        with translate_errors(f"diffing {desired.table} against the mirror"):
            row = await self.pool.fetchrow(sql)
        assert row is not None
        return int(row["created"]), int(row["updated"]), list(row["samples"] or [])


@dataclass(frozen=True)
class DesiredColumns:
    """Where a desired-state table's columns sit in the mirrored records."""

    #: a desired-state column -> (the field path in the mirrored record, its kinds)
    fields: dict[str, tuple[list[str], list[str]]]
    #: the literals of the diff, quoted by the server (Outbox.desired_columns)
    quote: Quote


def desired_diff_sql(
    desired: DesiredState, mirror_table: str | None, columns: DesiredColumns, view: ViewSpec
) -> str:
    """SELECT (row jsonb, created bool) for the desired rows that differ from the mirror.

    Each desired column is the typed-view column of the same name (a column the mirror has not
    seen yet: the field of that name where the vendor puts pushed fields). Values are compared
    as the typed view shows them, so a numeric string the vendor sends equals the number the
    desired table holds. A desired row matches the live mirror record whose key field holds the
    same value; it is sent when there is none (created) or when any mapped field differs
    (updated), so a value the mirror already holds, just pulled or just pushed, is never sent
    back. A NULL desired value is no opinion: not compared and left out of the row sent. The
    row sent names each field as the vendor does (`serialNumber`, not `serial_number`).
    Without a mirror table (the endpoint was never pulled nor pushed to), every desired row is
    a create. Identifiers come from validated config and are quoted; JSON
    paths and field names are literals the server quoted (`columns.quote`).
    """
    schema, table = desired.table.split(".")
    source = f"{names.quote(schema)}.{names.quote(table)}"
    selected = ", ".join(names.quote(c) for c in [desired.key, *desired.fields])

    quote = columns.quote

    def held(column: str) -> str:
        path, kinds = columns.fields[column]
        return f"pg_catalog.to_jsonb({typed_column(path, kinds, view, quote, 'm._data')})"

    def wanted(column: str) -> str:
        return f"pg_catalog.to_jsonb(d.{names.quote(column)})"

    # NULL in a desired column means "no opinion": never compared, never sent, so a LEFT JOIN
    # that found nothing cannot erase what the vendor holds (docs/push.md)
    differs = " OR ".join(
        f"(d.{names.quote(c)} IS NOT NULL AND {wanted(c)} IS DISTINCT FROM {held(c)})"
        for c in desired.fields
    )

    def pair(column: str) -> str:
        return f"{quote(columns.fields[column][0][-1])}::text, d.{names.quote(column)}"

    payload = " || ".join(
        [
            f"pg_catalog.jsonb_build_object({pair(desired.key)})",
            *(
                f"CASE WHEN d.{names.quote(c)} IS NULL THEN '{{}}'::jsonb "
                f"ELSE pg_catalog.jsonb_build_object({pair(c)}) END"
                for c in desired.fields
            ),
        ]
    )
    if mirror_table is None:
        return (
            f"SELECT {payload} AS row, true AS created "
            f"FROM (SELECT {selected} FROM {source}) d "
            f"WHERE d.{names.quote(desired.key)} IS NOT NULL"
        )
    return (
        f"SELECT {payload} AS row, m._pk IS NULL AS created "
        f"FROM (SELECT {selected} FROM {source}) d "
        f"LEFT JOIN mirror.{names.quote(mirror_table)} m "
        f"ON {held(desired.key)} = {wanted(desired.key)} "
        f"AND m._deleted_at IS NULL "
        f"WHERE d.{names.quote(desired.key)} IS NOT NULL AND (m._pk IS NULL OR {differs})"
    )
