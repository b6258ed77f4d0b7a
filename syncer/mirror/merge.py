"""Page merges: the rows of a page that differ from the mirror COPYed into the session's stage,
merged, and the pass's checkpoint, quarantine and field notes, in one fenced transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from syncer import errors, faults
from syncer.fields import Field
from syncer.mirror.base import Database, Fence, Part, StreamRef, lost, translate_errors
from syncer.models import StreamStats
from syncer.records import MemoEntry, Prepared, Row, packed_hashes
from syncer.sql import for_table, queries


@dataclass(frozen=True)
class MergeResult:
    """What one page's merge did."""

    inserted: int
    updated: int
    unchanged: int
    new_fields: int


@dataclass(frozen=True)
class MergeArgs:
    """The parameters of the merge_page query, $1..$25 in field order (queries.sql says what
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
    #: the keys of every row of the page, staged or not (a JSON array)
    keys: str
    #: whether the stream may hold missing or held deletes of these keys, to forget
    forget: bool
    #: rows COPYed straight into the table (counted as inserted)
    copied: int
    #: the page to remember (syncer.memo): its digest (None: not remembered), its rows'
    #: content hashes, the rest of it (JSON) and its position (JSON)
    memo_digest: bytes | None = None
    memo_hashes: bytes | None = None
    memo_page: str | None = None
    memo_position: str | None = None

    def values(self) -> tuple[Any, ...]:
        """The query's positional parameters."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


#: the columns a page COPYed straight into its table fills (_deleted_at stays NULL)
_COPIED_COLUMNS = ("_pk", "_data", "_hash", "_source_updated_at", "_synced_at", "_run_id")


class Merges(Part):
    """Merging pages and re-read records into a stream's mirror table."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._fields: dict[int, set[Field]] = {}  # per stream: (path, kind) pairs recorded
        self._pass_fields: dict[int, set[tuple[str, ...]]] = {}  # per pass: paths it saw

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
        restage: frozenset[str] = frozenset(),
        probe: bool = True,
        forget: bool = True,
        refill: Callable[[], Awaitable[Prepared]] | None = None,
        remember: MemoEntry | None = None,
    ) -> MergeResult:
        """Merge one page and move the checkpoint to it, in one transaction.

        Only the rows that differ from the mirror's live rows are staged and merged; rows
        equal to it cost an index probe each, no COPY and no write. `restage`: keys staged
        whatever the mirror holds now, because the page still merging before this one (`after`)
        held them too and may change them before this merge runs. `probe` False stages every
        row without asking (a pass that began on an empty table: nothing there to equal), and
        first tries COPYing the page straight into the table, skipping the stage; a key the
        table already holds (a record the page before it held too) undoes that COPY alone,
        and the page goes through the stage like any other.
        `forget` False: the stream had no missing or held deletes when the pass began (only a
        pass's end adds them), so none of the page's keys is looked for there. A hollow page
        (syncer.memo: keys and hashes, no text) is merged as it is while all its rows equal
        the mirror's, and decoded by `refill` as soon as one does not (or nothing is probed).
        `remember`: the page's syncer.page_memo row, written with the merge.

        `page` None merges rows re-read after the pass (to confirm deletes): the checkpoint
        stays. `after` is the previous page's merge: this page is staged at once but merged
        only once that one has committed (its failure fails this one too). `stats` already
        counts the page's records and requests; this adds what the merge did. `problems` and
        `evidence` are the pass's completeness evidence as of this page (syncer.evidence),
        committed with the checkpoint. With `fence`, nothing commits unless the run still
        holds the stream's lock token (LockLost otherwise).
        """
        known = await self._known_fields(ref)
        # a full pass notes the field paths it sees (the absent-field count at its end)
        pass_seen = await self._seen_in_pass(pass_id) if record_keys and page else None
        with translate_errors(f"merging page {page} of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                if prepared.lean and not probe:
                    prepared = await _refilled(refill)
                rows = prepared.rows
                keys = orjson.dumps([r.key for r in rows]).decode()
                copied = 0 if probe else await self._copy_new(conn, ref, rows, run_id)
                if not copied:
                    changed = await self._changed(conn, ref, rows, keys, restage) if probe else rows
                    if any(not r.text for r in changed):
                        # a row without text (syncer.memo) differs from the mirror after all
                        prepared = await _refilled(refill)
                        rows = prepared.rows
                        keys = orjson.dumps([r.key for r in rows]).decode()
                        changed = await self._changed(conn, ref, rows, keys, restage)
                    await self._stage(conn, changed)
                rejected = prepared.rejected
                pass_new = prepared.seen_paths - (pass_seen or set())
                bad_keys = [b.key for b in rejected if b.key is not None]
                if after is not None:
                    await after
                args = MergeArgs(
                    run_id=run_id,
                    stream_id=ref.stream_id,
                    pass_id=pass_id,
                    page=page,
                    record_keys=record_keys,
                    quarantined_keys=bad_keys,
                    newest_updated_at=prepared.newest,
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
                    keys=keys,
                    forget=forget,
                    copied=copied,
                    **_memo_args(remember),
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
                if pass_new and pass_seen is not None:
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

    async def _changed(
        self,
        conn: PoolConnectionProxy[asyncpg.Record],
        ref: StreamRef,
        rows: Sequence[Row],
        keys: str,
        restage: frozenset[str],
    ) -> Sequence[Row]:
        """The rows whose key the mirror does not hold live with the same content hash (the
        comparison runs in Postgres: only the keys that differ come back), and those of
        `restage`."""
        if not rows:
            return rows
        hashes = packed_hashes(rows)
        found = await conn.fetch(for_table("differing_keys", ref.table), keys, hashes)
        differ = {r["key"] for r in found} | restage
        if not differ:
            return []
        return [r for r in rows if r.key in differ]

    async def deletes_pending(self, ref: StreamRef) -> bool:
        """Whether the stream has keys missing from a pass, or deletes held."""
        with translate_errors("reading the stream's pending deletes"):
            pending: bool = await self.pool.fetchval(queries["deletes_pending"], ref.stream_id)
        return pending

    async def is_empty(self, ref: StreamRef) -> bool:
        """Whether the stream's table holds no row at all, live or deleted."""
        with translate_errors("reading whether the mirror is empty"):
            empty: bool = await self.pool.fetchval(for_table("mirror_empty", ref.table))
        return empty

    async def _copy_new(
        self,
        conn: PoolConnectionProxy[asyncpg.Record],
        ref: StreamRef,
        rows: Sequence[Row],
        run_id: int,
    ) -> int:
        """COPY rows straight into the stream's table; 0 when one's key is already there."""
        if not rows:
            return 0
        try:
            async with conn.transaction():  # a savepoint: a key already there undoes only this
                now = await conn.fetchval(queries["transaction_now"])
                await conn.copy_records_to_table(
                    ref.table,
                    schema_name="mirror",
                    records=[(r.key, r.text, r.digest, r.updated_at, now, run_id) for r in rows],
                    columns=_COPIED_COLUMNS,
                )
        except asyncpg.UniqueViolationError:
            return 0
        return len(rows)

    async def _stage(self, conn: PoolConnectionProxy[asyncpg.Record], rows: Sequence[Row]) -> None:
        """COPY rows into the session's stage (emptied at commit); measured faster than unnest."""
        if not rows:
            return
        await conn.copy_records_to_table(
            "syncer_stage",
            records=[(r.key, r.text, r.digest, r.updated_at) for r in rows],
            columns=("pk", "data", "hash", "updated_at"),
        )


async def _refilled(refill: Callable[[], Awaitable[Prepared]] | None) -> Prepared:
    """A hollow page decoded after all; its rows have text."""
    if refill is None:
        raise errors.SyncerError("a page recalled without its text has no way to decode it")
    prepared = await refill()
    assert not prepared.hollow
    return prepared


def _memo_args(remember: MemoEntry | None) -> dict[str, Any]:
    """MergeArgs' memo_* fields for the page to remember (none: all NULL)."""
    if remember is None:
        return {}
    return {
        "memo_digest": remember.digest,
        "memo_hashes": remember.hashes,
        "memo_page": remember.page,
        "memo_position": remember.position,
    }
