"""The main flow. One run: for every configured stream, concurrently,
lock → pass state → pages (under the credential's limiter) → merge + checkpoint per page →
delete inference (full passes only) → typed view → run record.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from syncer import errors, workers
from syncer.connectors import CONNECTORS
from syncer.http import VendorClient
from syncer.log import register_secret
from syncer.mirror import MergeResult, Mirror, StreamRef
from syncer.models import StreamSpec, StreamStats
from syncer.paging import pages_by_cursor, pages_in_order
from syncer.settings import Config, ConnectionConfig
from syncer.workers import DecodedPage

log = structlog.get_logger(__name__)

#: pages being merged at once per stream (each on its own connection, committed in order)
MERGES_IN_FLIGHT = 2

#: on_page(connection, stream, page, total_pages, stats): progress reporting hook
OnPage = Callable[[str, str, int, int | None, StreamStats], None]


@dataclass
class StreamResult:
    """How one stream's run ended."""

    connection: str
    stream: str
    mode: str
    status: str  # succeeded | quarantined | failed | already_running
    stats: StreamStats = field(default_factory=StreamStats)
    seconds: float = 0.0
    error: str | None = None
    exit_code: errors.ExitCode = errors.ExitCode.OK
    view: str | None = None


def exit_code(results: Sequence[StreamResult]) -> errors.ExitCode:
    """The process exit code for a run: the most serious outcome among its streams."""
    order = [
        errors.ExitCode.AUTH_OR_CONFIG,
        errors.ExitCode.TRANSIENT,
        errors.ExitCode.INTERNAL,
        errors.ExitCode.ALREADY_RUNNING,
        errors.ExitCode.QUARANTINED,
    ]
    codes = {r.exit_code for r in results}
    return next((c for c in order if c in codes), errors.ExitCode.OK)


def plan(config: Config, only: Sequence[str] = ()) -> list[tuple[ConnectionConfig, StreamSpec]]:
    """The (connection, stream) pairs to run; `only` names streams as NAME or CONNECTION/NAME."""
    chosen = []
    wanted = set(only)
    for conn in config.connections:
        connector = CONNECTORS[conn.vendor]
        for name in conn.streams:
            if not wanted or name in wanted or f"{conn.name}/{name}" in wanted:
                chosen.append((conn, connector.stream(name, conn.options)))
    known = {n for c in config.connections for n in c.streams}
    known |= {f"{c.name}/{n}" for c in config.connections for n in c.streams}
    unknown = sorted(wanted - known)
    if unknown:
        raise errors.ConfigError(
            f"no such stream in the config: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return chosen


async def sync(
    config: Config,
    database_url: str,
    *,
    only: Sequence[str] = (),
    mode: str = "full",
    on_page: OnPage | None = None,
) -> list[StreamResult]:
    """Sync the chosen streams of every connection; never raises for a single stream's failure."""
    chosen = plan(config, only)
    tokens = {c.name: c.token() for c, _ in chosen}
    for token in tokens.values():
        register_secret(token.get_secret_value())
    invocation = str(uuid.uuid4())
    # per stream: the lock's connection and one per merge in flight
    pool_size = (1 + MERGES_IN_FLIGHT) * len(chosen) + 2
    async with (
        Mirror.connect(database_url, max_size=pool_size) as mirror,
        contextlib.AsyncExitStack() as stack,
    ):
        clients: dict[str, VendorClient] = {}
        for conn, _ in chosen:
            if conn.name not in clients:
                secret = tokens[conn.name].get_secret_value()
                client = VendorClient(conn, CONNECTORS[conn.vendor], secret)
                clients[conn.name] = await stack.enter_async_context(client)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    sync_stream(mirror, clients[conn.name], spec, mode, invocation, on_page)
                )
                for conn, spec in chosen
            ]
    return [t.result() for t in tasks]


async def sync_stream(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    mode: str,
    invocation: str,
    on_page: OnPage | None = None,
) -> StreamResult:
    """One stream's run; failures are returned as a result so sibling streams carry on."""
    conn = client.connection
    result = StreamResult(conn.name, spec.name, mode, "running")
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(connection=conn.name, stream=spec.name):
        try:
            async with mirror.stream_lock(conn.name, spec.name):
                ref = await mirror.ensure_stream(conn.name, spec.name)
                await _run(mirror, client, spec, ref, mode, invocation, result, on_page)
        except errors.SyncerError as exc:
            result.status = (
                "already_running" if isinstance(exc, errors.AlreadyRunning) else "failed"
            )
            result.error = exc.message
            result.exit_code = exc.exit_code
            log.error("stream.failed", error=exc.message, exit_code=int(exc.exit_code))
        result.seconds = time.monotonic() - started
    return result


async def _run(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    ref: StreamRef,
    mode: str,
    invocation: str,
    result: StreamResult,
    on_page: OnPage | None,
) -> None:
    conn = client.connection
    state = await mirror.load_state(ref)
    effective = mode
    if mode == "incremental" and (spec.incremental_params is None or state.cursor is None):
        effective = "full"
        log.info("stream.incremental_unavailable", reason="no cursor yet or no cursor field")
    result.mode = effective
    size = min(conn.page_size or spec.default_page_size, spec.max_page_size)
    if state.pass_id is not None and state.mode == effective:
        params = dict(state.params)
        pinned = int(params.pop(PAGE_SIZE_KEY, size))
        if pinned != size:
            log.info("pass.page_size_kept", page_size=pinned, configured=size)
        run = Pass(
            state.pass_id,
            params,
            effective == "full",
            next_page=state.checkpoint_page + 1,
            position=state.checkpoint_cursor
            if spec.paging == "cursor"
            else state.checkpoint_page + 1,
            keys_written=state.keys_written,
            page_size=pinned,
        )
        log.info("pass.resumed", pass_id=run.pass_id, from_page=run.next_page)
    else:
        if state.pass_id is not None:
            await mirror.drop_pass_keys(state.pass_id)
            log.info("pass.discarded", pass_id=state.pass_id, mode=state.mode)
        params = dict(spec.params)
        if effective == "incremental":
            assert spec.incremental_params is not None and state.cursor is not None
            since = state.cursor - timedelta(seconds=conn.lookback_seconds)
            params.update(spec.incremental_params(since))
        pass_id = await mirror.begin_pass(ref, effective, {**params, PAGE_SIZE_KEY: str(size)})
        run = Pass(
            pass_id, params, effective == "full", next_page=1, position=spec.first(), page_size=size
        )
    run_id = await mirror.start_run(invocation, ref, effective, run.pass_id, run.next_page - 1)
    stats = result.stats
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        log.info("run.started", mode=effective, pass_id=run.pass_id, from_page=run.next_page)
        try:
            new_fields = await _read_pass(mirror, client, spec, ref, run_id, run, stats, on_page)
            if run.full:
                await _infer_deletes(
                    mirror, client, spec, ref, run_id, run.pass_id, run.keys_written, stats
                )
            await mirror.finish_pass(ref, run.pass_id, full=run.full)
            if new_fields or not await mirror.view_exists(ref):
                result.view = await mirror.refresh_view(ref, spec.view, stats)
            result.status = "quarantined" if stats.quarantined else "succeeded"
            if stats.quarantined:
                result.exit_code = errors.ExitCode.QUARANTINED
            await mirror.finish_run(run_id, result.status, stats, None)
            log.info("run.finished", status=result.status, **vars(stats))
        except errors.SyncerError as exc:
            with contextlib.suppress(errors.SyncerError):
                await mirror.finish_run(run_id, "failed", stats, exc.message)
            raise
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(mirror.finish_run(run_id, "failed", stats, "interrupted"))
            raise


#: the key under which a pass's parameters keep its page size (never sent to the vendor)
PAGE_SIZE_KEY = "syncer:page_size"


@dataclass
class Pass:
    """The pass a run works on: where reading resumes and what it has recorded so far."""

    pass_id: int
    params: dict[str, str]
    full: bool
    next_page: int  # number of the next page to merge (1 for a new pass)
    position: Any  # where that page starts: its number, or the vendor's cursor
    #: records per page, fixed for the whole pass: page numbers (the checkpoint) count in it
    page_size: int
    keys_written: int = 0


def _pages(
    spec: StreamSpec,
    run: Pass,
    size: int,
    window: int,
    fetch: Callable[[Any], Awaitable[DecodedPage]],
    max_bytes: int | None = None,
) -> AsyncIterator[tuple[int, DecodedPage]]:
    """The pages still to read in this pass, by page number or by the vendor's cursor."""
    if spec.paging == "pages":
        return pages_in_order(
            fetch, start=run.position, page_size=size, window=window, max_bytes=max_bytes
        )
    if run.next_page > 1 and run.position is None:
        return _no_pages()  # the last page was merged; only the end of the pass remains
    return pages_by_cursor(fetch, start_page=run.next_page, start=run.position)


async def _no_pages() -> AsyncIterator[tuple[int, DecodedPage]]:
    return
    yield  # pragma: no cover - makes this an async generator


async def _read_pass(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    ref: StreamRef,
    run_id: int,
    run: Pass,
    stats: StreamStats,
    on_page: OnPage | None,
) -> bool:
    """Read the pass's remaining pages and merge them; returns whether new fields appeared."""
    conn = client.connection
    size = run.page_size
    decode = _decoder(client, spec)

    async def fetch(position: Any) -> DecodedPage:
        request = spec.page(run.params, position, size)
        if spec.paging == "pages":
            what = f"stream {spec.name} page {position}"
        else:
            what = f"stream {spec.name} page after cursor {str(position)[:80]}"
        return await client.send(request, what=what, stats=stats, decode=decode)

    # Two pages are merged at once: the next page's COPY into its stage runs while the previous
    # page's merge commits; each merge waits for the previous commit, so pages commit in order
    # and the checkpoint stays the highest contiguous page.
    new_fields = False
    pending: collections.deque[tuple[int, DecodedPage, asyncio.Task[MergeResult]]] = (
        collections.deque()
    )

    def finish(page: int, fetched: DecodedPage, merged: MergeResult) -> None:
        nonlocal new_fields
        if run.full:
            run.keys_written += len(fetched.prepared.rows) + sum(
                1 for b in fetched.prepared.rejected if b.key is not None
            )
        new_fields = new_fields or merged.new_fields > 0
        log.debug("page.merged", page=page, inserted=merged.inserted, updated=merged.updated)
        if on_page is not None:
            on_page(conn.name, spec.name, page, fetched.total_pages, stats)

    budget = conn.window_mb * 2**20
    warned_size = False
    pages = _pages(spec, run, size, conn.window, fetch, budget)
    try:
        async for page, fetched in pages:
            for bad in fetched.prepared.rejected:
                log.warning("record.quarantined", page=page, key=bad.key, reason=bad.reason)
            if fetched.prepared.duplicates:
                _warn_duplicates(page, fetched.prepared.duplicates, stats)
            if not fetched.paginated:
                _warn_unpaginated(spec, fetched, stats)
            if fetched.body_bytes > budget and not warned_size:
                warned_size = True
                _warn_page_bytes(spec, fetched.body_bytes, size, conn.window_mb, stats)
            stats.pages += 1
            stats.records += fetched.record_count
            merge = mirror.merge_page(
                ref,
                run_id=run_id,
                pass_id=run.pass_id,
                page=page,
                prepared=fetched.prepared,
                record_keys=run.full,
                stats=stats,
                after=pending[-1][2] if pending else None,
                next_cursor=fetched.next_cursor if spec.paging == "cursor" else None,
            )
            pending.append((page, fetched, asyncio.ensure_future(merge)))
            if len(pending) >= MERGES_IN_FLIGHT:
                done_page, done_fetched, task = pending.popleft()
                finish(done_page, done_fetched, await task)
        while pending:
            done_page, done_fetched, task = pending.popleft()
            finish(done_page, done_fetched, await task)
    finally:
        for _, _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in pending), return_exceptions=True)
    return new_fields


def _warn_page_bytes(
    spec: StreamSpec, body_bytes: int, size: int, window_mb: int, stats: StreamStats
) -> None:
    """A page larger than the connection's window_mb: memory now grows with the page size."""
    smaller = max(1, size * window_mb * 2**20 // (4 * body_bytes))
    message = (
        f"pages of {spec.name} reach {body_bytes / 2**20:.0f} MB, more than window_mb "
        f"({window_mb} MB): syncer holds one such page at a time, several copies of it; set "
        f"page_size = {smaller} on the connection to bound memory"
    )
    log.warning("page.large", bytes=body_bytes, page_size=size, suggested_page_size=smaller)
    stats.warnings.append(message)


def _warn_duplicates(page: int, dropped: int, stats: StreamStats) -> None:
    """Records that repeated a key on their page: the newest was kept; one warning per run
    says how many were dropped."""
    log.warning("page.duplicate_keys", page=page, dropped=dropped)
    before = stats.duplicate_keys
    stats.duplicate_keys += dropped
    message = "{} records repeated a key on their page; the newest of each was kept"
    if before:
        stats.warnings.remove(message.format(before))
    stats.warnings.append(message.format(stats.duplicate_keys))


def _warn_unpaginated(spec: StreamSpec, page: DecodedPage, stats: StreamStats) -> None:
    """A response without paging information is taken as the whole set, never looped over;
    say so loudly, since a vendor that silently truncates looks exactly like this."""
    message = (
        f"{spec.name}: the response carried no paging information; took its "
        f"{page.record_count} records as the whole set"
    )
    if page.record_count in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        message += " (a round number: the vendor may have truncated the list)"
    stats.warnings.append(message)
    log.warning("page.unpaginated", records=page.record_count, message=message)


async def _infer_deletes(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    ref: StreamRef,
    run_id: int,
    pass_id: int,
    keys_written: int,
    stats: StreamStats,
) -> None:
    """Soft-delete keys the complete pass did not see, once their absence is confirmed:
    re-read by key where the vendor can filter by key, else missing from two complete passes.
    A key skipped because offset paging shifted is re-read and found, so it is never deleted."""
    if not await mirror.pass_keys_intact(pass_id, keys_written):
        log.warning("deletes.deferred", reason="the pass's key list was lost (Postgres restart)")
        return
    candidates = await mirror.delete_candidates(ref, pass_id)
    if not candidates:
        return
    conn = client.connection
    confirmed: list[str] = []
    unconfirmable: list[str] = candidates
    if spec.lookup_params is not None and len(candidates) <= conn.confirm_limit:
        unconfirmable = []
        for i in range(0, len(candidates), spec.lookup_batch):
            chunk = candidates[i : i + spec.lookup_batch]
            found = await _lookup(mirror, client, spec, ref, run_id, pass_id, chunk, stats)
            if found is None:
                unconfirmable.extend(chunk)
            else:
                confirmed.extend(k for k in chunk if k not in found)
    if unconfirmable:
        confirmed.extend(await mirror.missing_twice(ref, unconfirmable, pass_id))
    if confirmed:
        stats.deleted += await mirror.soft_delete(ref, confirmed, run_id)
    log.info(
        "deletes.inferred",
        candidates=len(candidates),
        deleted=len(confirmed),
        awaiting_second_pass=len(unconfirmable) - len(set(unconfirmable) & set(confirmed)),
    )


async def _lookup(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    ref: StreamRef,
    run_id: int,
    pass_id: int,
    keys: list[str],
    stats: StreamStats,
) -> set[str] | None:
    """Re-read `keys`; the set of those the vendor still has, or None if it cannot tell."""
    assert spec.lookup_params is not None
    request = spec.page({**spec.params, **spec.lookup_params(keys)}, spec.first(), len(keys))
    try:
        page = await client.send(
            request,
            what=f"stream {spec.name} lookup",
            stats=stats,
            decode=_decoder(client, spec),
        )
    except errors.FatalVendorError as exc:
        log.warning("deletes.lookup_refused", error=exc.message)
        return None
    prepared = page.prepared
    rows = prepared.rows
    found = {r.key for r in rows} | {b.key for b in prepared.rejected if b.key is not None}
    if not found <= set(keys) or page.item_count >= len(keys) + 1:
        log.warning("deletes.lookup_ignored_filter", returned=page.item_count)
        return None
    if rows:
        await mirror.merge_page(
            ref,
            run_id=run_id,
            pass_id=pass_id,
            page=None,
            prepared=prepared,
            record_keys=False,
            stats=stats,
        )
    return found


def _decoder(client: VendorClient, spec: StreamSpec) -> Callable[[bytes], Awaitable[DecodedPage]]:
    """Decoding of this stream's pages, off the event loop (see syncer.workers)."""

    async def decode(body: bytes) -> DecodedPage:
        return await workers.decode(
            client.connector.vendor, spec.name, client.connection.options, body
        )

    return decode
