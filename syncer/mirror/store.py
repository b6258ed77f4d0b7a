"""The store: streams' passes and checkpoints, run records, page merges (COPY into the stage,
merge, checkpoint, quarantine, in one fenced transaction) and delete inference's SQL. Every
query is a named one (syncer/sql/queries.sql).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from syncer import errors, faults
from syncer.mirror.base import Database, Fence, Part, StreamRef, lost, translate_errors
from syncer.models import StreamStats
from syncer.records import Field, Prepared, Row
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


@dataclass(frozen=True)
class MergeResult:
    """What one page's merge did."""

    inserted: int
    updated: int
    unchanged: int
    new_fields: int


@dataclass(frozen=True)
class MergeArgs:
    """The parameters of the merge_page query, $1..$18 in field order (queries.sql says what
    each one is)."""

    run_id: int
    stream_id: int
    pass_id: int | None
    #: None: rows re-read after the pass; the checkpoint stays
    page: int | None
    record_keys: bool
    quarantined_keys: list[str]
    newest_updated_at: datetime | None
    rows_staged: int
    run_pages: int
    run_records: int
    run_requests: int
    run_rate_limited: int
    run_retries: int
    quarantined: int
    next_cursor: str | None
    #: the run's lock name (None: unfenced)
    fence: str | None
    problems: list[str]
    evidence: str | None

    def values(self) -> tuple[Any, ...]:
        """The query's positional parameters."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


class Store(Part):
    """Passes, runs, merges, checkpoints and deletes of the mirror tables."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._fields: dict[int, set[Field]] = {}  # per stream: (path, kind) pairs recorded
        self._pass_fields: dict[int, set[tuple[str, ...]]] = {}  # per pass: paths it saw

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

    # -- pages -------------------------------------------------------------------------------

    async def merge_page(
        self,
        ref: StreamRef,
        *,
        run_id: int,
        pass_id: int | None,
        page: int | None,
        prepared: Prepared,
        record_keys: bool,
        stats: StreamStats,
        after: Awaitable[MergeResult] | None = None,
        next_cursor: Any = None,
        fence: Fence | None = None,
        problems: Sequence[str] = (),
        evidence: dict[str, Any] | None = None,
    ) -> MergeResult:
        """Merge one page and move the checkpoint to it, in one transaction.

        `page` None merges rows re-read after the pass (to confirm deletes): the checkpoint
        stays. `after` is the previous page's merge: this page is staged at once but merged
        only once that one has committed (its failure fails this one too). `stats` already
        counts the page's records and requests; this adds what the merge did. `problems` and
        `evidence` are the pass's completeness evidence as of this page (syncer.evidence),
        committed with the checkpoint. With `fence`, nothing commits unless the run still
        holds the stream's lock token (LockLost otherwise).
        """
        rows, rejected = prepared.rows, prepared.rejected
        known = await self._known_fields(ref)
        # a full pass notes the field paths it sees (the absent-field count at its end)
        pass_seen = await self._seen_in_pass(pass_id) if record_keys and page else None
        pass_new = {p for p, _ in prepared.fields} - pass_seen if pass_seen is not None else set()
        newest = max((r.updated_at for r in rows if r.updated_at is not None), default=None)
        bad_keys = [b.key for b in rejected if b.key is not None]
        with translate_errors(f"merging page {page} of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await self._stage(conn, rows)
                if after is not None:
                    await after
                args = MergeArgs(
                    run_id=run_id,
                    stream_id=ref.stream_id,
                    pass_id=pass_id,
                    page=page,
                    record_keys=record_keys,
                    quarantined_keys=bad_keys,
                    newest_updated_at=newest,
                    rows_staged=len(rows),
                    run_pages=stats.pages,
                    run_records=stats.records,
                    run_requests=stats.requests,
                    run_rate_limited=stats.rate_limited,
                    run_retries=stats.retries,
                    quarantined=len(rejected),
                    next_cursor=None if next_cursor is None else orjson.dumps(next_cursor).decode(),
                    fence=None if fence is None else fence.name,
                    problems=list(problems),
                    evidence=None if evidence is None else orjson.dumps(evidence).decode(),
                )
                merged = await conn.fetchrow(for_table("merge_page", ref.table), *args.values())
                assert merged is not None
                if fence is not None and merged["fence_token"] != fence.token:
                    raise lost(fence)
                if page is not None and not merged["checkpointed"]:
                    raise errors.MirrorError(
                        f"the pass of {ref.stream} changed under this run; rerun the sync"
                    )
                new_fields = await self._add_fields(conn, ref, prepared.fields - known)
                await conn.executemany(
                    queries["note_pass_field"], [(pass_id, list(p)) for p in sorted(pass_new)]
                )
                if rejected:
                    await conn.executemany(
                        queries["quarantine"],
                        [(ref.stream_id, run_id, page, b.key, b.reason, b.raw) for b in rejected],
                    )
                if page is not None:
                    faults.reached("before_commit")
        if page is not None:
            faults.reached("after_commit")
        known |= new_fields
        if pass_seen is not None:
            pass_seen |= pass_new
        inserted, updated = merged["inserted"], merged["updated"]
        unchanged = len(rows) - inserted - updated
        stats.merged(inserted, updated, unchanged, len(rejected))
        return MergeResult(inserted, updated, unchanged, len(new_fields))

    async def merge_records(
        self,
        ref: StreamRef,
        prepared: Prepared,
        *,
        run_id: int,
        pass_id: int | None,
        stats: StreamStats,
        fence: Fence | None,
    ) -> MergeResult:
        """Merge records read outside a pass's pages (a re-read by key, a push's read-back):
        no page, no checkpoint, no pass keys."""
        return await self.merge_page(
            ref,
            run_id=run_id,
            pass_id=pass_id,
            page=None,
            prepared=prepared,
            record_keys=False,
            stats=stats,
            fence=fence,
        )

    async def _known_fields(self, ref: StreamRef) -> set[Field]:
        if ref.stream_id not in self._fields:
            with translate_errors("reading the stream's fields"):
                rows = await self.pool.fetch(queries["known_fields"], ref.stream_id)
            self._fields[ref.stream_id] = {(tuple(r["path"]), r["json_type"]) for r in rows}
        return self._fields[ref.stream_id]

    async def _seen_in_pass(self, pass_id: int | None) -> set[tuple[str, ...]] | None:
        if pass_id is None:
            return None
        if pass_id not in self._pass_fields:
            with translate_errors("reading the fields the pass saw"):
                rows = await self.pool.fetch(queries["pass_fields"], pass_id)
            if len(self._pass_fields) >= 256:  # passes long over; a live one reloads
                self._pass_fields.clear()
            self._pass_fields[pass_id] = {tuple(r["path"]) for r in rows}
        return self._pass_fields[pass_id]

    async def _add_fields(
        self, conn: PoolConnectionProxy[asyncpg.Record], ref: StreamRef, new: set[Field]
    ) -> set[Field]:
        for path, json_kind in sorted(new):
            await conn.execute(queries["add_field"], ref.stream_id, list(path), json_kind)
        return new

    async def _stage(self, conn: PoolConnectionProxy[asyncpg.Record], rows: Sequence[Row]) -> None:
        """COPY rows into the session's stage (emptied at commit); measured faster than unnest."""
        await conn.copy_records_to_table(
            "syncer_stage",
            records=[(r.key, r.text, r.digest, r.updated_at) for r in rows],
            columns=("pk", "data", "hash", "updated_at"),
        )

    # -- deletes -----------------------------------------------------------------------------

    async def pass_keys_intact(self, pass_id: int, expected: int) -> bool:
        """False when the unlogged key list lost rows (Postgres crashed during the pass)."""
        with translate_errors("counting the pass's keys"):
            count: int = await self.pool.fetchval(queries["count_pass_keys"], pass_id)
        return count == expected

    async def delete_candidates(self, ref: StreamRef, pass_id: int) -> list[str]:
        with translate_errors("finding keys the pass did not see"):
            rows = await self.pool.fetch(for_table("delete_candidates", ref.table), pass_id)
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
