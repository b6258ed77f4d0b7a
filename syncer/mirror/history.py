"""History (type-2) of a stream: every version of every key in mirror_history.<table>.

Recording is done by two statement-level triggers on the mirror table (AFTER INSERT, AFTER
UPDATE, with transition tables; their functions are in migrations/0014_history.sql), not by
the queries that write the mirror: every path that changes a mirror row (the page merge, soft
deletes after a complete pass, `syncer deletes confirm`, the mirror following a push, and any
path added later) records its versions in its own transaction, and a rolled-back page leaves no
version behind. A statement that changes nothing (an unchanged page: the merge filters equal
rows out) costs one look at an empty transition table.

This module turns it on and off, when a run starts, under the stream's lock: on, the table is
created once, the triggers installed, and the history caught up with the mirror (the rows it
holds start as open versions; after a time with history off, each key that changed meanwhile
gets one version for its current state); off, the triggers go and the table stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from syncer import names
from syncer.mirror.base import Fence, Part, StreamRef, translate_errors
from syncer.sql import for_table, queries

log = structlog.get_logger(__name__)

#: the schema of the history tables (one per stream with history on, named as its mirror table)
SCHEMA = "mirror_history"


@dataclass(frozen=True)
class HistoryChange:
    """What turning history on or off did at a run's start (nothing, when already so)."""

    #: "on" (just installed), "off" (just removed), None (already as configured)
    turned: str | None = None
    #: versions closed and opened to catch the history up with the mirror
    closed: int = 0
    opened: int = 0


class History(Part):
    """`mirror.history`: the history table and triggers of a stream."""

    async def apply(self, ref: StreamRef, on: bool, fence: Fence | None = None) -> HistoryChange:
        """Make the stream's history recording match the setting `on` (idempotent; the caller
        holds the stream's lock). The mirror table is locked against writes (not reads) while
        its triggers are checked and changed, so no write falls between the two."""
        mirror_name = f"mirror.{names.quote(ref.table)}"
        history_name = f"{SCHEMA}.{names.quote(ref.table)}"
        with translate_errors(f"setting up the history of {ref.connection}/{ref.stream}"):
            async with self.fenced(fence) as conn:
                installed = await conn.fetchval(queries["history_triggers"], mirror_name)
                if not on:
                    if not installed:
                        return HistoryChange()
                    await conn.execute(for_table("lock_for_history", ref.table))
                    await conn.execute(for_table("drop_history_triggers", ref.table))
                    log.info("history.off", table=history_name)
                    return HistoryChange("off")
                if installed == 2:
                    return HistoryChange()
                await conn.execute(for_table("lock_for_history", ref.table))
                if not await conn.fetchval(queries["history_table_exists"], history_name):
                    await conn.execute(for_table("create_history_table", ref.table))
                closed = await conn.fetchval(for_table("history_close_stale", ref.table))
                opened = await conn.fetchval(for_table("history_open_missing", ref.table))
                await conn.execute(for_table("install_history_triggers", ref.table))
        log.info("history.on", table=history_name, closed=closed, opened=opened)
        return HistoryChange("on", closed, opened)
