"""The only place SQL runs: streams, passes and checkpoints, page merges, deletes, quarantine,
typed views and run records. asyncpg errors become MirrorError here and nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import structlog
from asyncpg.pool import PoolConnectionProxy

from syncer import errors, faults, names
from syncer.db import url_secrets
from syncer.log import register_secret
from syncer.models import StreamStats, ViewSpec
from syncer.records import Field, Prepared, Row
from syncer.settings import DesiredState
from syncer.sql import for_table, queries

log = structlog.get_logger(__name__)

_SEP = "\x1f"  # joins a field path into one raw key; cannot occur in a JSON object key we keep

#: engine columns of every mirror table (also reserved in the typed views)
ENGINE_COLUMNS = ("_pk", "_hash", "_source_updated_at", "_synced_at", "_deleted_at", "_run_id")

#: settings of every session syncer opens, whatever the role or database say. search_path:
#: nothing in `public` (or any schema a role may create in) is ever resolved, so a function
#: planted there cannot run as syncer; pg_temp last, for the session's own stage table only.
#: standard_conforming_strings: a backslash in a literal is a backslash.
SESSION_SETTINGS = {"search_path": "pg_catalog, pg_temp", "standard_conforming_strings": "on"}

#: turns a raw string into the text of an SQL literal (made by the server: `quote_literal`)
Quote = Callable[[str], str]


@dataclass(frozen=True)
class StreamRef:
    """A stream's identity in the database."""

    stream_id: int
    connection: str
    stream: str
    table: str


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
class Fence:
    """The fencing token of a lock's holder: checked, row-locked, in every write transaction
    of the holder, so a holder whose lock vanished (its session died) and was taken by another
    process cannot commit again."""

    name: str
    token: int


@dataclass(frozen=True)
class OutboxRow:
    """A row of syncer.outbox claimed by a push."""

    id: int
    endpoint: str
    operation: str
    payload: Any
    #: what a non-idempotent write recorded before it was first sent (None: not sent yet)
    evidence: Any = None


@dataclass(frozen=True)
class MergeResult:
    inserted: int
    updated: int
    unchanged: int
    new_fields: int


@contextlib.contextmanager
def translate_errors(action: str) -> Any:
    """Translate driver errors once, naming what syncer was doing."""
    try:
        yield
    # InternalClientError: asyncpg's own state broke with the connection (seen releasing a
    # connection whose backend was terminated mid-merge: fault experiment 4)
    except asyncpg.ClientConfigurationError as exc:
        raise errors.ConfigError(
            f"the database URL is not usable ({exc}); check SYNCER_DATABASE_URL"
        ) from None
    except REFUSALS as exc:
        raise refused(exc) from None
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    ) as exc:
        raise errors.MirrorError(
            f"Postgres failed while {action}: {type(exc).__name__}: {exc}"
        ) from exc


#: the server answered, and said the URL names no database or role it will let in: a
#: configuration mistake, not weather (exit 6 at once, never retried)
REFUSALS = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
)


def refused(exc: Exception) -> errors.ConfigError:
    """The ConfigError for a server that refused syncer's database URL, saying what to fix."""
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        advice = "create it (createdb), or point SYNCER_DATABASE_URL at the mirror's database"
    else:
        advice = "check the user and password in SYNCER_DATABASE_URL (and pg_hba.conf)"
    return errors.ConfigError(f"Postgres refused the connection: {exc}; {advice}")


async def _check_fence(conn: PoolConnectionProxy[asyncpg.Record], fence: Fence) -> None:
    """Raise LockLost unless `fence` is still the lock's token; inside a transaction, the
    token's row stays locked until it ends, so no new holder can take over before then."""
    token = await conn.fetchval(queries["check_fence"], fence.name)
    if token != fence.token:
        raise _lost(fence)


def _lost(fence: Fence) -> errors.LockLost:
    what = fence.name.removeprefix("syncer.")
    return errors.LockLost(
        f"another process took over {what} (this run's lock session ended, e.g. "
        "idle_session_timeout or a terminated backend); this run stopped before its next "
        "commit: rerun to resume"
    )


def table_name(connection: str, stream: str) -> str:
    """The mirror table for a stream: `<connection>__<stream>`, normalised and bounded."""
    return names.identifier(f"{connection}__{stream}")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute(queries["create_stage"])


async def connect_one(url: str) -> asyncpg.Connection:
    """One session with syncer's SESSION_SETTINGS (for migrations and roles)."""
    _secret_parts(url)
    return await asyncpg.connect(url, server_settings=SESSION_SETTINGS)


def _secret_parts(url: str) -> None:
    """The URL's passwords are secrets from here on, however syncer was started (the CLI
    registers them when it resolves the URL; a library caller may not have)."""
    for secret in url_secrets(url):
        register_secret(secret)


async def quote_literals(
    conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], values: Iterable[str]
) -> dict[str, str]:
    """raw string -> its SQL literal, made by the server in one round trip (`quote_literal`
    writes E'...' where a backslash needs it, so the text is right under any setting of
    standard_conforming_strings)."""
    unique = list(dict.fromkeys(values))
    if not unique:
        return {}
    quoted = await conn.fetchval(queries["quote_literals"], unique)
    return dict(zip(unique, quoted, strict=True))


async def server_quoted(
    conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], build: Callable[[Quote], str]
) -> str:
    """The SQL text `build(quote)` makes, every literal in it quoted by the server: `build`
    runs once to learn its literals, and again with them."""
    wanted: list[str] = []
    build(_collector(wanted))
    quoted = await quote_literals(conn, wanted)
    return build(quoted.__getitem__)


def _collector(wanted: list[str]) -> Quote:
    """A Quote that only notes the values it is given (their literals are asked for next)."""

    def collect(value: str) -> str:
        wanted.append(value)
        return "NULL"

    return collect


class Mirror:
    """The mirror database; `async with Mirror.connect(url) as mirror`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._fields: dict[int, set[Field]] = {}  # per stream: (path, kind) pairs recorded

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, *, max_size: int = 10) -> AsyncIterator[Mirror]:
        _secret_parts(url)
        with translate_errors("connecting"):
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                init=_init_connection,
                command_timeout=600,
                server_settings=SESSION_SETTINGS,
            )
        try:
            yield cls(pool)
        finally:
            await pool.close()

    # -- streams and locks -------------------------------------------------------------------

    async def ensure_stream(self, connection: str, stream: str) -> StreamRef:
        """Register the stream (once) and create its mirror table if needed; any number of
        processes at once (a sync and a push's read-back of one stream, say)."""
        with translate_errors(f"registering stream {connection}/{stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(queries["lock_stream_registry"])
                row = await conn.fetchrow(queries["get_stream"], connection, stream)
                if row is None:
                    table = table_name(connection, stream)
                    if await conn.fetchval(queries["table_name_taken"], table):
                        digest = hashlib.blake2b(stream.encode(), digest_size=4).hexdigest()
                        table = names.identifier(f"{connection}__{stream}__{digest}")
                    await conn.execute(queries["insert_stream"], connection, stream, table)
                    row = await conn.fetchrow(queries["get_stream"], connection, stream)
                    assert row is not None
                ref = StreamRef(row["stream_id"], connection, stream, row["table_name"])
                await conn.execute(for_table("create_mirror_table", ref.table))
                await conn.execute(queries["ensure_state"], ref.stream_id)
                return ref

    async def drop_empty_table(self, ref: StreamRef) -> None:
        """Drop the stream's mirror table if it holds no row (the vendor has no such stream:
        a failed first run leaves nothing behind for analysts to find)."""
        with translate_errors(f"dropping the empty table of {ref.connection}/{ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(for_table("drop_empty_mirror_table", ref.table))

    def stream_lock(
        self, connection: str, stream: str
    ) -> contextlib.AbstractAsyncContextManager[Fence]:
        """Hold the stream's advisory lock for the block (its fence as the value); raise
        AlreadyRunning if taken."""
        return self.lock(
            f"syncer.stream:{connection}/{stream}",
            f"stream {connection}/{stream} is already being synced by another process",
        )

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
        newest = max((r.updated_at for r in rows if r.updated_at is not None), default=None)
        bad_keys = [b.key for b in rejected if b.key is not None]
        with translate_errors(f"merging page {page} of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await self._stage(conn, rows)
                if after is not None:
                    await after
                merged = await conn.fetchrow(
                    for_table("merge_page", ref.table),
                    run_id,
                    ref.stream_id,
                    pass_id,
                    page,
                    record_keys,
                    bad_keys,
                    newest,
                    len(rows),
                    stats.pages,
                    stats.records,
                    stats.requests,
                    stats.rate_limited,
                    stats.retries,
                    len(rejected),
                    None if next_cursor is None else orjson.dumps(next_cursor).decode(),
                    None if fence is None else fence.name,
                    list(problems),
                    None if evidence is None else orjson.dumps(evidence).decode(),
                )
                assert merged is not None
                if fence is not None and merged["fence_token"] != fence.token:
                    raise _lost(fence)
                if page is not None and not merged["checkpointed"]:
                    raise errors.MirrorError(
                        f"the pass of {ref.stream} changed under this run; rerun the sync"
                    )
                new_fields = await self._add_fields(conn, ref, prepared.fields - known)
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
        inserted, updated = merged["inserted"], merged["updated"]
        stats.inserted += inserted
        stats.updated += updated
        stats.unchanged += len(rows) - inserted - updated
        stats.quarantined += len(rejected)
        return MergeResult(inserted, updated, len(rows) - inserted - updated, len(new_fields))

    async def _known_fields(self, ref: StreamRef) -> set[Field]:
        if ref.stream_id not in self._fields:
            with translate_errors("reading the stream's fields"):
                rows = await self.pool.fetch(queries["known_fields"], ref.stream_id)
            self._fields[ref.stream_id] = {(tuple(r["path"]), r["json_type"]) for r in rows}
        return self._fields[ref.stream_id]

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

    # -- analysts ----------------------------------------------------------------------------

    async def refresh_view(
        self, ref: StreamRef, view: ViewSpec | None = None, stats: StreamStats | None = None
    ) -> str:
        """(Re)create mirror_view.<table>: one typed column per field seen, deleted rows hidden.

        Column names come from syncer.stream_columns (a field keeps the name it was first
        given); a column whose type changed, and fields left without a column, become warnings
        in `stats`."""
        view = view or ViewSpec()
        with translate_errors(f"creating the typed view of {ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                columns, warnings = await self._view_columns(conn, ref, view)
                ddl = await server_quoted(
                    conn, lambda quote: view_ddl(ref.table, columns, view, quote)
                )
                await conn.execute(f"DROP VIEW IF EXISTS mirror_view.{names.quote(ref.table)}")
                await conn.execute(ddl)
        for warning in warnings:
            log.warning("view.changed", stream=ref.stream, message=warning)
            if stats is not None and warning not in stats.warnings:
                stats.warnings.append(warning)
        return f"mirror_view.{ref.table}"

    async def _view_columns(
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

    async def view_exists(self, ref: StreamRef) -> bool:
        with translate_errors("looking for the typed view"):
            found = await self.pool.fetchval(queries["view_exists"], f"mirror_view.{ref.table}")
        return bool(found)

    # -- outbox --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, name: str, busy: str = "") -> AsyncIterator[Fence]:
        """Hold the advisory lock `name` for the block; raise AlreadyRunning (`busy`) if taken.

        The block gets the lock's next fencing token: the advisory lock lives in one pooled
        session, which nothing watches while the block works; if that session dies the lock
        is gone, and the token is what stops this holder once another one has taken it.
        """
        with translate_errors("taking a lock"):
            conn = await self.pool.acquire()
        try:
            with translate_errors("taking a lock"):
                got = await conn.fetchval(queries["try_lock"], name)
            if not got:
                raise errors.AlreadyRunning(busy or f"{name} is held by another process")
            try:
                with translate_errors("taking a lock"):
                    token: int = await conn.fetchval(queries["take_fence"], name)
                yield Fence(name, token)
            finally:
                with contextlib.suppress(Exception):
                    await conn.fetchval(queries["unlock"], name)
        finally:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    async def next_push_id(self) -> int:
        with translate_errors("starting a push"):
            value: int = await self.pool.fetchval(queries["next_push_id"])
        return value

    @contextlib.asynccontextmanager
    async def fenced(
        self, fence: Fence | None
    ) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A connection in a transaction that commits only while `fence` is still current
        (LockLost otherwise); without a fence, a plain transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await _check_fence(conn, fence)
            yield conn

    async def claim_outbox(
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

    async def mark_outbox(
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

    async def accept_outbox(
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
                    queries["mark_outbox"], list(ids), "accepted", nothing, list(vendor_ids)
                )
                if superseded:
                    await conn.execute(
                        queries["supersede_outbox"],
                        [old for old, _ in superseded],
                        [later for _, later in superseded],
                    )

    async def release_outbox(
        self, ids: Sequence[int], message: str, fence: Fence | None = None
    ) -> None:
        """Give rows a push claimed but did not send back to 'pending', saying why."""
        if not ids:
            return
        with translate_errors("releasing outbox rows"):
            async with self.fenced(fence) as conn:
                await conn.execute(queries["release_outbox"], list(ids), message)

    async def find_stream(self, connection: str, stream: str) -> StreamRef | None:
        """The stream if syncer has registered it (registers nothing: a push must not create a
        mirror table for an endpoint that may not exist)."""
        with translate_errors(f"reading stream {connection}/{stream}"):
            row = await self.pool.fetchrow(queries["get_stream"], connection, stream)
        if row is None:
            return None
        return StreamRef(row["stream_id"], connection, stream, row["table_name"])

    async def records_named(
        self, table: str, path: Sequence[str], values: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """value -> {mirror key (`_pk`): the mirrored record, None where the mirror marked it
        deleted} of every mirrored record whose field at `path` holds that value (as text)."""
        sql = (
            f"SELECT _data #>> $1::text[] AS value, _pk, "
            f"CASE WHEN _deleted_at IS NULL THEN _data END AS data "
            f"FROM mirror.{names.quote(table)} WHERE _data #>> $1::text[] = ANY($2::text[])"
        )
        with translate_errors(f"reading mirror.{table}"):
            rows = await self.pool.fetch(sql, list(path), list(values))
        found: dict[str, dict[str, Any]] = {}
        for r in rows:
            data = None if r["data"] is None else orjson.loads(r["data"])
            found.setdefault(r["value"], {})[r["_pk"]] = data
        return found

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

    async def records_by_field(
        self, table: str, path: Sequence[str], values: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The live mirrored records whose field at `path` holds one of `values` (as text)."""
        sql = (
            f"SELECT _data #>> $1::text[] AS key, _data FROM mirror.{names.quote(table)} "
            "WHERE _deleted_at IS NULL AND _data #>> $1::text[] = ANY($2::text[])"
        )
        with translate_errors(f"reading mirror.{table}"):
            rows = await self.pool.fetch(sql, list(path), list(values))
        return {r["key"]: orjson.loads(r["_data"]) for r in rows}

    async def delete_by_field(
        self,
        table: str,
        path: Sequence[str],
        values: Sequence[str],
        run_id: int,
        fence: Fence | None = None,
    ) -> int:
        """Mark deleted the live mirrored records whose field at `path` holds one of `values`."""
        sql = (
            f"UPDATE mirror.{names.quote(table)} SET _deleted_at = pg_catalog.now(), _run_id = $3 "
            "WHERE _deleted_at IS NULL AND _data #>> $1::text[] = ANY($2::text[])"
        )
        with translate_errors(f"marking deletes in mirror.{table}"):
            async with self.fenced(fence) as conn:
                status = await conn.execute(sql, list(path), list(values), run_id)
        return int(status.split()[-1])

    async def delete_keys(
        self, table: str, keys: Sequence[str], run_id: int, fence: Fence | None = None
    ) -> int:
        """Mark deleted the live mirrored records of `keys` (their `_pk`): a pushed delete."""
        with translate_errors(f"marking deletes in mirror.{table}"):
            async with self.fenced(fence) as conn:
                status = await conn.execute(for_table("soft_delete", table), list(keys), run_id)
        return int(status.split()[-1])

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
                        known, _ = await self._view_columns(conn, ref, view)
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
                    DesiredColumns(fields, _collector(wanted)),
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

    async def plan_outbox(self, connection: str | None) -> list[dict[str, Any]]:
        with translate_errors("reading the outbox"):
            return [dict(r) for r in await self.pool.fetch(queries["plan_outbox"], connection)]

    async def outbox_payloads(self, connection: str, endpoint: str, operation: str) -> list[Any]:
        """The payloads of the rows still to send for one endpoint and operation."""
        with translate_errors("reading the outbox"):
            rows = await self.pool.fetch(
                queries["outbox_payloads"], connection, endpoint, operation
            )
        return [orjson.loads(r["payload"]) for r in rows]

    async def drop_outbox(self, ids: Sequence[int]) -> tuple[list[int], dict[int, str | None]]:
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

    async def recent_runs(self, limit: int) -> list[dict[str, Any]]:
        with translate_errors("reading the runs table"):
            rows = await self.pool.fetch(queries["recent_runs"], limit)
        return [dict(r) for r in rows]


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


def _column(
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
    single = {"number": "numeric", "boolean": "boolean", "timestamp": "timestamptz"}
    if len(kinds) == 1 and kinds[0] in {*single, "date"}:
        return single.get(kinds[0], "date")
    if kinds and set(kinds) <= {"string", "timestamp", "date"}:
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
        expression = _column(column.path, column.kinds, view, quote)
        cols.append(f"{expression} AS {names.quote(column.name)}")
    cols += ["_data", "_source_updated_at", "_synced_at", "_run_id"]
    table_q = names.quote(table)
    return (
        f"CREATE VIEW mirror_view.{table_q} AS SELECT "
        + ", ".join(cols)
        + f" FROM mirror.{table_q} WHERE _deleted_at IS NULL"
    )


@dataclass(frozen=True)
class DesiredColumns:
    """Where a desired-state table's columns sit in the mirrored records."""

    #: a desired-state column -> (the field path in the mirrored record, its kinds)
    fields: dict[str, tuple[list[str], list[str]]]
    #: the literals of the diff, quoted by the server (Mirror.desired_columns)
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
        return f"pg_catalog.to_jsonb({_column(path, kinds, view, quote, 'm._data')})"

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
