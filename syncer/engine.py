"""The main flow. One run: for every configured stream, concurrently,
lock (and its fencing token) → pass state → pages (under the credential's limiter), each
checked against what the vendor reported → merge + checkpoint per page → delete inference
(complete full passes only; syncer.deletes) → cursor → typed view → run record.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import structlog

from syncer import budget, deletes, errors, metrics, workers
from syncer.connectors import CONNECTORS
from syncer.evidence import PassEvidence
from syncer.http import VendorClient
from syncer.log import register_secret
from syncer.mirror import Fence, MergeResult, Mirror, StreamRef, StreamState
from syncer.models import StreamSpec, StreamStats
from syncer.paging import pages_by_cursor, pages_in_order
from syncer.settings import Config, ConnectionConfig, tokens
from syncer.workers import DecodedPage

log = structlog.get_logger(__name__)

#: a backfill's days: (since, until), either may be None
Bounds = tuple[date | None, date | None]

#: pages being merged at once per stream (each on its own connection, committed in order)
MERGES_IN_FLIGHT = 2


class Progress(Protocol):
    """What a run reports as it goes (the CLI's progress bars)."""

    def resumed(self, connection: str, stream: str, pass_id: int, page: int) -> None:
        """An interrupted pass goes on after its checkpoint, `page`."""

    def page(
        self, connection: str, stream: str, page: int, total: int | None, stats: StreamStats
    ) -> None:
        """Page `page` (of `total`, when the vendor says) is merged and checkpointed."""


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
    #: the run's row in syncer.runs (None when it failed before it had one)
    run_id: int | None = None
    #: the page an interrupted pass resumed from (None: a new pass)
    resumed_from: int | None = None
    #: why the run read in full although incremental was asked for
    fell_back: str | None = None


def exit_code(results: Sequence[StreamResult]) -> errors.ExitCode:
    """The process exit code for a run: the most serious outcome among its streams."""
    return errors.worst(r.exit_code for r in results)


def plan(config: Config, only: Sequence[str] = ()) -> list[tuple[ConnectionConfig, StreamSpec]]:
    """The (connection, stream) pairs to run; `only` names streams as NAME or CONNECTION/NAME."""
    chosen = []
    wanted = set(only)
    for conn in config.connections:
        connector = CONNECTORS[conn.vendor]
        for name in conn.streams:
            if not wanted or name in wanted or f"{conn.name}/{name}" in wanted:
                options = conn.stream_config(name).options
                chosen.append((conn, connector.stream(name, options)))
    qualified = [f"{c.name}/{n}" for c in config.connections for n in c.streams]
    known = set(qualified) | {n for c in config.connections for n in c.streams}
    unknown = sorted(wanted - known)
    if unknown:
        raise errors.ConfigError(
            f"no such stream in the config: {', '.join(unknown)}; the config has "
            f"{', '.join(qualified)} (NAME alone works where one connection has it)"
        )
    return chosen


async def sync(
    config: Config,
    database_url: str,
    *,
    only: Sequence[str] = (),
    mode: str | None = None,
    progress: Progress | None = None,
    bounds: Bounds | None = None,
) -> list[StreamResult]:
    """Sync the chosen streams of every connection; never raises for a single stream's failure.

    `mode` None: each stream's own (`mode` in per_stream, else full). `mode` "backfill" reads
    the records updated within `bounds` (since, until: days, either may be None) through the
    vendor's date filter: a resumable read that infers no deletes and moves no cursor."""
    chosen = plan(config, only)
    secrets = tokens(c for c, _ in chosen)
    for token in secrets.values():
        register_secret(token.get_secret_value())
    invocation = str(uuid.uuid4())
    # per stream: the lock's connection and one per merge in flight
    pool_size = (1 + MERGES_IN_FLIGHT) * len(chosen) + 2
    async with (
        Mirror.connect(database_url, max_size=pool_size) as mirror,
        budget.store(database_url) as budgets,
        contextlib.AsyncExitStack() as stack,
    ):
        clients: dict[str, VendorClient] = {}
        for conn, _ in chosen:
            if conn.name not in clients:
                secret = secrets[conn.name].get_secret_value()
                client = VendorClient(conn, CONNECTORS[conn.vendor], secret, budgets=budgets)
                clients[conn.name] = await stack.enter_async_context(client)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    sync_stream(
                        mirror,
                        clients[conn.name],
                        spec,
                        mode or conn.stream_config(spec.name).mode,
                        invocation,
                        progress,
                        bounds,
                    )
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
    progress: Progress | None = None,
    bounds: Bounds | None = None,
) -> StreamResult:
    """One stream's run; failures are returned as a result so sibling streams carry on."""
    conn = client.connection
    result = StreamResult(conn.name, spec.name, mode, "running")
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(connection=conn.name, stream=spec.name):
        try:
            async with mirror.stream_lock(conn.name, spec.name) as fence:
                ref = await mirror.ensure_stream(conn.name, spec.name)
                ctx = StreamRun(mirror, client, spec, ref, fence, result.stats, bounds)
                await _run(ctx, mode, invocation, result, progress)
        except errors.SyncerError as exc:
            result.status = (
                "already_running" if isinstance(exc, errors.AlreadyRunning) else "failed"
            )
            result.error = exc.message
            result.exit_code = exc.exit_code
            named = {} if result.run_id is None else {"run_id": result.run_id}
            log.error("stream.failed", error=exc.message, exit_code=int(exc.exit_code), **named)
        result.seconds = time.monotonic() - started
    metrics.run_finished(result)
    metrics.connection_rates(conn, client.gate.rate)
    return result


@dataclass
class StreamRun:
    """What every step of one stream's run works with."""

    mirror: Mirror
    client: VendorClient
    spec: StreamSpec
    ref: StreamRef
    #: the stream lock's fencing token: every write commits only while it is still current
    fence: Fence
    stats: StreamStats
    #: a backfill's days (since, until)
    bounds: Bounds | None = None


async def _run(
    ctx: StreamRun, mode: str, invocation: str, result: StreamResult, progress: Progress | None
) -> None:
    mirror, spec, ref = ctx.mirror, ctx.spec, ctx.ref
    conn = ctx.client.connection
    state = await mirror.store.load_state(ref)
    # what the prelude finds is logged once the run has its id: every event of a run has it
    notes: list[tuple[str, dict[str, Any]]] = []
    effective, result.fell_back = _mode(spec, state, mode, ctx.stats)
    if result.fell_back:
        notes.append(("stream.incremental_unavailable", {"reason": result.fell_back}))
    result.mode = effective
    settings = conn.stream_config(spec.name)
    size = min(settings.page_size or spec.default_page_size, spec.max_page_size)
    current = state.passes.get(effective)
    if current is not None and effective == "backfill":
        asked = _backfill_params(spec, ctx.bounds)
        if {k: v for k, v in current.params.items() if k != PAGE_SIZE_KEY} != asked:
            # another window was asked for: the unfinished one is dropped, not resumed
            await mirror.store.discard_pass(ref, current.pass_id, ctx.fence)
            notes.append(("pass.discarded", {"pass_id": current.pass_id, "reason": "other dates"}))
            current = None
    for other in state.passes.values():
        if other is not current:
            # a backfill waits for its next run, its checkpoint untouched (and vice versa)
            kept = {"pass_id": other.pass_id, "mode": other.mode, "page": other.checkpoint_page}
            notes.append(("pass.kept", kept))
    if current is not None:
        params = dict(current.params)
        pinned = int(params.pop(PAGE_SIZE_KEY, size))
        if pinned != size:
            notes.append(("pass.page_size_kept", {"page_size": pinned, "configured": size}))
        run = Pass(
            current.pass_id,
            params,
            effective == "full",
            next_page=current.checkpoint_page + 1,
            position=current.checkpoint_cursor
            if spec.paging == "cursor"
            else current.checkpoint_page + 1,
            keys_written=current.keys_written,
            page_size=pinned,
            evidence=_evidence(spec, pinned, list(current.problems), current.evidence),
        )
    else:
        backfill = effective == "backfill"
        params = _backfill_params(spec, ctx.bounds) if backfill else dict(spec.params)
        if effective == "incremental":
            assert spec.incremental_params is not None and state.cursor is not None
            since = state.cursor - timedelta(seconds=conn.lookback_seconds)
            params.update(spec.incremental_params(since))
        pass_id = await mirror.store.begin_pass(
            ref, effective, {**params, PAGE_SIZE_KEY: str(size)}, ctx.fence
        )
        run = Pass(
            pass_id,
            params,
            effective == "full",
            next_page=1,
            position=spec.first(),
            page_size=size,
            evidence=_evidence(spec, size, [], None),
        )
    run_id = await mirror.store.start_run(
        invocation, ref, effective, run.pass_id, run.next_page - 1
    )
    result.run_id = run_id
    stats = ctx.stats
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        for event, fields in notes:
            log.info(event, **fields)
        if current is not None and run.next_page > 1:
            result.resumed_from = run.next_page
            log.info("pass.resumed", pass_id=run.pass_id, from_page=run.next_page)
            if progress is not None:
                progress.resumed(conn.name, spec.name, run.pass_id, run.next_page - 1)
        log.info("run.started", mode=effective, pass_id=run.pass_id, from_page=run.next_page)
        try:
            new_fields = await _read_pass(ctx, run_id, run, progress)
            complete = run.evidence.complete
            if not complete:
                _warn_incomplete(spec, run, stats)
            elif run.full:
                await deletes.infer(ctx, run_id, run.pass_id, run.keys_written)
            cursor = await mirror.store.finish_pass(
                ref,
                run.pass_id,
                full=run.full,
                # a window of days proves nothing about the changes after it
                complete=complete and effective != "backfill",
                fence=ctx.fence,
            )
            log.info("pass.finished", complete=complete, cursor=cursor and cursor.isoformat())
            if new_fields or not await mirror.views.exists(ref):
                result.view = await mirror.views.refresh(ref, spec.view, stats)
            result.status = _status(stats, complete)
            if result.status != "succeeded" or stats.held_deletes:
                result.exit_code = errors.ExitCode.QUARANTINED
            await mirror.store.finish_run(run_id, result.status, stats, None, complete)
            log.info("run.finished", status=result.status, **vars(stats))
        except errors.SyncerError as exc:
            with contextlib.suppress(errors.SyncerError):
                await mirror.store.finish_run(run_id, "failed", stats, exc.message)
                if isinstance(exc, errors.ConfigError) and stats.pages == 0:
                    await mirror.drop_empty_table(ref)
            raise
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    mirror.store.finish_run(run_id, "failed", stats, "interrupted")
                )
            raise


def _backfill_params(spec: StreamSpec, bounds: Bounds | None) -> dict[str, str]:
    """A backfill's pass parameters: the stream's, narrowed to the days asked for."""
    since, until = bounds or (None, None)
    if since is None and until is None:
        raise errors.ConfigError(
            f"a backfill of {spec.name} with no dates is a full pass: use `syncer backfill` "
            "without --since and --until, or `syncer sync --mode full`"
        )
    if spec.range_params is None:
        raise errors.ConfigError(
            f"the vendor has no date filter for {spec.name}: --since and --until cannot narrow "
            "it; run `syncer backfill` without them (a full read)"
        )
    return {**spec.params, **spec.range_params(since, until)}


def _mode(
    spec: StreamSpec, state: StreamState, mode: str, stats: StreamStats
) -> tuple[str, str | None]:
    """The mode the run can honour, and why it is not the one asked for: incremental needs a
    cursor field and a trustworthy cursor."""
    if mode != "incremental":
        return mode, None
    if spec.incremental_params is None:
        reason = "the vendor has no updated-since filter for this stream: every run reads it all"
    elif state.cursor is None:
        reason = "no cursor yet: the first complete full pass sets it"
    elif state.cursor > datetime.now(UTC) + FUTURE_TOLERANCE:
        reason = (
            f"the cursor {state.cursor.isoformat()} is in the future (set by hand, or a clock "
            "moved back)"
        )
        stats.warnings.append(f"{spec.name}: {reason}; read in full instead")
    else:
        return mode, None
    return "full", reason


def _status(stats: StreamStats, complete: bool) -> str:
    if not complete:
        return "incomplete"
    return "quarantined" if stats.quarantined else "succeeded"


def _evidence(
    spec: StreamSpec, size: int, problems: list[str], state: dict[str, Any] | None
) -> PassEvidence:
    return PassEvidence(size, spec.paging == "pages", problems, state)


#: how far past this machine's clock a record's updatedAt may be before it is "in the future"
#: (clocks of vendors and of this machine differ by seconds, rarely minutes)
FUTURE_TOLERANCE = timedelta(minutes=5)

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
    #: whether what the pass read agrees with what the vendor reported (syncer.evidence)
    evidence: PassEvidence = field(default_factory=lambda: PassEvidence(1))


def _pages(
    spec: StreamSpec,
    run: Pass,
    window: int,
    fetch: Callable[[Any], Awaitable[DecodedPage]],
    max_bytes: int | None = None,
) -> AsyncIterator[tuple[int, DecodedPage]]:
    """The pages still to read in this pass, by page number or by the vendor's cursor."""
    if spec.paging == "pages":
        return pages_in_order(
            fetch,
            start=run.position,
            page_size=run.page_size,
            window=window,
            max_bytes=max_bytes,
            evidence=run.evidence,
        )
    if run.next_page > 1 and run.position is None:
        return _no_pages()  # the last page was merged; only the end of the pass remains
    return pages_by_cursor(
        fetch, start_page=run.next_page, start=run.position, evidence=run.evidence
    )


async def _no_pages() -> AsyncIterator[tuple[int, DecodedPage]]:
    return
    yield  # pragma: no cover - makes this an async generator


#: matches no position: a resumed pass has no opening request
_NOT_A_POSITION = object()


async def _read_pass(ctx: StreamRun, run_id: int, run: Pass, progress: Progress | None) -> bool:
    """Read the pass's remaining pages and merge them; returns whether new fields appeared."""
    mirror, client, spec, ref, stats = ctx.mirror, ctx.client, ctx.spec, ctx.ref, ctx.stats
    conn = client.connection
    size = run.page_size
    settings = conn.stream_config(spec.name)
    decode = workers.decoder(client.connector.vendor, spec.name, settings.options)
    headers = dict(settings.headers)  # the connection's, and the stream's own over them

    opening = spec.first() if run.next_page == 1 else _NOT_A_POSITION

    async def fetch(position: Any) -> DecodedPage:
        request = spec.page(run.params, position, size)
        if headers:
            request = dataclasses.replace(request, headers=headers)
        if spec.paging == "pages":
            what = f"stream {spec.name} page {position}"
        elif position == spec.first():
            what = f"stream {spec.name} first page"
        else:
            what = f"stream {spec.name} page after cursor {str(position)[:80]}"
        try:
            return await client.send(request, what=what, stats=stats, decode=decode)
        except errors.FatalVendorError as exc:
            if exc.status != 404 or position != opening:
                raise
            # the pass's very first request found nothing there: a name the vendor does not
            # have (a mistyped master, table or model), not weather
            raise errors.ConfigError(
                f"{client.connector.vendor} has no stream {spec.name} (HTTP 404 on its first "
                f"page{': ' + exc.body if exc.body else ''}); check its name in the streams "
                f"of connection {conn.name!r}"
            ) from None

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
        if progress is not None:
            progress.page(conn.name, spec.name, page, fetched.total_pages, stats)

    budget = conn.window_mb * 2**20
    warned_size = False
    future = _FutureStamps(spec.name)
    pages = _pages(spec, run, settings.window, fetch, budget)
    try:
        async for page, fetched in pages:
            for bad in fetched.prepared.rejected:
                named = {} if bad.key is None else {"key": bad.key}
                log.warning("record.quarantined", page=page, reason=bad.reason, **named)
            if fetched.prepared.duplicates:
                _warn_duplicates(page, fetched.prepared.duplicates, stats)
            if not fetched.paginated:
                _warn_unpaginated(spec, fetched, stats)
            if fetched.body_bytes > budget and not warned_size:
                warned_size = True
                _warn_page_bytes(spec, fetched.body_bytes, size, conn.window_mb, stats)
            future.count(fetched, stats)
            stats.pages += 1
            stats.records += fetched.record_count
            merge = mirror.store.merge_page(
                ref,
                run_id=run_id,
                pass_id=run.pass_id,
                page=page,
                prepared=fetched.prepared,
                record_keys=run.full,
                stats=stats,
                after=pending[-1][2] if pending else None,
                next_cursor=fetched.next_cursor if spec.paging == "cursor" else None,
                fence=ctx.fence,
                problems=run.evidence.take(),
                evidence=run.evidence.state,
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


def _warn_incomplete(spec: StreamSpec, run: Pass, stats: StreamStats) -> None:
    """A pass whose evidence disagrees with the vendor: merged, but no deletes, no cursor."""
    message = (
        f"{spec.name}: pass {run.pass_id} is incomplete, so no deletes were inferred and the "
        f"cursor did not move: {run.evidence.summary()}"
    )
    log.warning("pass.incomplete", pass_id=run.pass_id, problems=run.evidence.problems)
    stats.warnings.append(message)


class _FutureStamps:
    """Records whose updatedAt is in the future: stored as sent, counted in one run warning
    (the cursor never moves past the pass's start, so they cannot hide later changes)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.seen = 0
        self.latest: datetime | None = None
        self.limit = datetime.now(UTC) + FUTURE_TOLERANCE

    def count(self, page: DecodedPage, stats: StreamStats) -> None:
        stamps = [r.updated_at for r in page.prepared.rows if r.updated_at is not None]
        future = [t for t in stamps if t > self.limit]
        if not future:
            return
        message = self._message()
        self.seen += len(future)
        self.latest = max([*future, *([self.latest] if self.latest else [])])
        log.warning("records.future_updated_at", count=len(future), latest=self.latest.isoformat())
        if message in stats.warnings:
            stats.warnings.remove(message)
        stats.warnings.append(self._message())

    def _message(self) -> str:
        latest = self.latest.isoformat() if self.latest else ""
        return (
            f"{self.stream}: {self.seen} records carry an updatedAt in the future (latest "
            f"{latest}); stored as sent; the cursor stops at the pass's start"
        )


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
