"""The schema-change log (syncer.schema_changes): each change of a typed view an analyst may
need to know of, with the run that made it; and the count of complete passes a field was
absent from, which makes one of them.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from syncer.mirror.base import StreamRef
from syncer.mirror.view_schema import ABSENT_PASSES, SchemaChange, absent_change
from syncer.sql import queries


async def log_changes(
    conn: PoolConnectionProxy[asyncpg.Record],
    ref: StreamRef,
    run_id: int | None,
    changes: list[SchemaChange],
) -> None:
    """Write `changes` in the caller's transaction (with the view change they describe)."""
    await conn.executemany(
        queries["log_schema_change"],
        [
            (
                ref.stream_id,
                run_id,
                c.kind,
                list(c.path),
                c.column,
                c.old_type,
                c.new_type,
                c.detail,
            )
            for c in changes
        ],
    )


async def absent_fields(
    conn: PoolConnectionProxy[asyncpg.Record], ref: StreamRef, pass_id: int, run_id: int | None
) -> list[SchemaChange]:
    """After the complete full pass `pass_id`: per field with a column, the passes in a row
    that did not see it (0 again when this one did; only counts that change are written); a
    field whose count reaches ABSENT_PASSES now is logged, once, and returned."""
    rows = await conn.fetch(queries["count_absent_fields"], ref.stream_id, pass_id, ABSENT_PASSES)
    changes = [absent_change(r["path"], r["column_name"], ref.table) for r in rows if r["reached"]]
    await log_changes(conn, ref, run_id, changes)
    return changes
