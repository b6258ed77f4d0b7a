"""The store: streams' passes and checkpoints, run records, page merges (mirror.merge) and
delete inference's SQL. Every query is a named one (syncer/sql/queries.sql).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from syncer.mirror.base import Fence, StreamRef, translate_errors
from syncer.mirror.merge import Merges
from syncer.models import StreamStats
from syncer.sql import for_table, queries


@dataclass(frozen=True)
class PassState:
    """A pass in progress: where it stands, committed with its latest page."""

    pass_id: int
    mode: str
    params: dict[str, str]
    checkpoint_page: int
    checkpoint_cursor: Any
    keys_written: int
    #: reasons the pass is incomplete so far, and what its evidence needs to go on
    problems: tuple[str, ...] = ()
    evidence: dict[str, Any] | None = None


@dataclass(frozen=True)
class StreamState:
    """A stream's cursor and its passes in progress, at most one per mode (a resumable full
    pass and incremental passes coexist: neither discards the other's checkpoint)."""

    cursor: datetime | None
    last_full_pass: int | None
    passes: dict[str, PassState]


class Store(Merges):
    """Passes, runs, merges (mirror.merge), checkpoints and deletes of the mirror tables."""

    # -- passes and runs ---------------------------------------------------------------------

    async def load_state(self, ref: StreamRef) -> StreamState:
        with translate_errors("reading the stream state"):
            row = await self.pool.fetchrow(queries["load_state"], ref.stream_id)
            rows = await self.pool.fetch(queries["load_passes"], ref.stream_id)
        assert row is not None
        passes = {
            r["mode"]: PassState(
                r["pass_id"],
                r["mode"],
                orjson.loads(r["params"]),
                r["checkpoint_page"],
                orjson.loads(r["checkpoint_cursor"]) if r["checkpoint_cursor"] else None,
                r["keys_written"],
                tuple(r["problems"] or ()),
                orjson.loads(r["evidence"]) if r["evidence"] else None,
            )
            for r in rows
        }
        return StreamState(row["cursor"], row["last_full_pass"], passes)

    async def begin_pass(
        self, ref: StreamRef, mode: str, params: dict[str, str], fence: Fence
    ) -> int:
        with translate_errors("starting a pass"):
            async with self.fenced(fence) as conn:
                pass_id: int = await conn.fetchval(
                    queries["begin_pass"], ref.stream_id, mode, orjson.dumps(params).decode()
                )
        return pass_id

    async def start_run(
        self, invocation: str, ref: StreamRef, mode: str, pass_id: int | None, resumed_from: int
    ) -> int:
        with translate_errors("recording the run"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(queries["abandon_runs"], ref.connection, ref.stream)
                run_id: int = await conn.fetchval(
                    queries["start_run"],
                    invocation,
                    ref.connection,
                    ref.stream,
                    mode,
                    pass_id,
                    resumed_from,
                )
        return run_id

    async def finish_run(
        self,
        run_id: int,
        status: str,
        stats: StreamStats,
        error: str | None,
        complete: bool | None = None,
    ) -> None:
        with translate_errors("recording the run's end"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(queries["run_progress"], run_id, *_counters(stats))
                await conn.execute(
                    queries["finish_run"], run_id, status, error, stats.warnings, complete
                )

    async def recent_runs(self, limit: int) -> list[dict[str, Any]]:
        with translate_errors("reading the runs table"):
            rows = await self.pool.fetch(queries["recent_runs"], limit)
        return [dict(r) for r in rows]

    # -- deletes -----------------------------------------------------------------------------

    async def pass_keys_intact(self, pass_id: int, expected: int) -> bool:
        """False when the unlogged key list lost rows (Postgres crashed during the pass)."""
        with translate_errors("counting the pass's keys"):
            count: int = await self.pool.fetchval(queries["count_pass_keys"], pass_id)
        return count == expected

    async def delete_candidates(self, ref: StreamRef, pass_id: int) -> list[str]:
        with translate_errors("finding keys the pass did not see"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(queries["delete_candidates_settings"])
                rows = await conn.fetch(for_table("delete_candidates", ref.table), pass_id)
        return [r["_pk"] for r in rows]

    async def missing_twice(
        self, ref: StreamRef, keys: Sequence[str], pass_id: int, fence: Fence
    ) -> list[str]:
        """Record `keys` as missing from this pass; return those missing from an earlier one too."""
        with translate_errors("recording missing keys"):
            async with self.fenced(fence) as conn:
                rows = await conn.fetch(queries["missing_before"], ref.stream_id, keys, pass_id)
                await conn.execute(queries["note_missing"], ref.stream_id, keys, pass_id)
        return [r["key"] for r in rows]

    async def soft_delete(
        self, ref: StreamRef, keys: Sequence[str], run_id: int, fence: Fence
    ) -> int:
        """Mark `keys` deleted; any held deletes of the stream are settled by this decision."""
        with translate_errors("marking deleted records"):
            async with self.fenced(fence) as conn:
                status = await conn.execute(for_table("soft_delete", ref.table), keys, run_id)
                await conn.execute(queries["forget_missing"], ref.stream_id, keys)
                await conn.execute(queries["clear_held"], ref.stream_id)
        return int(status.split()[-1])

    async def hold_deletes(
        self, ref: StreamRef, keys: Sequence[str], pass_id: int, run_id: int, fence: Fence
    ) -> None:
        """Keep confirmed deletes aside for an operator (replacing any held before)."""
        with translate_errors("holding deletes"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["hold_deletes"], ref.stream_id, keys, pass_id, run_id)

    async def clear_held(self, ref: StreamRef, fence: Fence) -> int:
        """Drop the stream's held deletes; how many there were."""
        with translate_errors("dropping held deletes"):
            async with self.fenced(fence) as conn:
                dropped: int = await conn.fetchval(queries["clear_held"], ref.stream_id)
        return dropped

    async def live_count(self, ref: StreamRef) -> int:
        with translate_errors("counting live rows"):
            count: int = await self.pool.fetchval(for_table("live_count", ref.table))
        return count

    async def finish_pass(
        self, ref: StreamRef, pass_id: int, *, full: bool, complete: bool, fence: Fence
    ) -> datetime | None:
        """Close the pass; returns the stream's cursor after it."""
        with translate_errors("closing the pass"):
            async with self.fenced(fence) as conn:
                cursor: datetime | None = await conn.fetchval(
                    queries["finish_pass"], ref.stream_id, full, complete, pass_id
                )
                await conn.execute(queries["drop_pass_keys"], pass_id)
        return cursor

    async def discard_pass(self, ref: StreamRef, pass_id: int, fence: Fence) -> None:
        """Drop a pass in progress and its keys: the next run of its mode starts afresh."""
        with translate_errors("discarding a pass"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["discard_one_pass"], ref.stream_id, pass_id)
                await conn.execute(queries["drop_pass_keys"], pass_id)

    async def drop_pass_keys(self, pass_id: int, fence: Fence) -> None:
        with translate_errors("discarding an abandoned pass"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["drop_pass_keys"], pass_id)


def _counters(stats: StreamStats) -> tuple[int, ...]:
    return (
        stats.pages,
        stats.records,
        stats.requests,
        stats.rate_limited,
        stats.retries,
        stats.inserted,
        stats.updated,
        stats.unchanged,
        stats.deleted,
        stats.quarantined,
    )
