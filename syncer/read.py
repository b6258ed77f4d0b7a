"""One pass's reading: a window of page requests in flight (syncer.paging), each page decoded
in a worker, checked against what the vendor reported (syncer.evidence), then merged with its
checkpoint (mirror.store), two merges at once, committed in page order. The warnings a pass's
pages give (duplicates, oversized pages, no paging, future timestamps) are said here.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from syncer import errors, workers
from syncer.memo import PageMemo, refill, settings_digest
from syncer.mirror import MergeResult
from syncer.models import Paging, StreamSpec, StreamStats
from syncer.paging import pages_by_cursor, pages_in_order
from syncer.run import Pass, RunContext
from syncer.workers import DecodedPage

log = structlog.get_logger(__name__)

#: pages being merged at once per stream (each on its own connection, committed in order)
MERGES_IN_FLIGHT = 2

#: how far past this machine's clock a record's updatedAt may be before it is "in the future"
#: (clocks of vendors and of this machine differ by seconds, rarely minutes)
FUTURE_TOLERANCE = timedelta(minutes=5)


async def read_pass(ctx: RunContext, run: Pass) -> bool:
    """Read the pass's remaining pages and merge them; returns whether new fields appeared."""
    mirror, client, spec, ref, stats = ctx.mirror, ctx.client, ctx.spec, ctx.ref, ctx.stats
    progress = ctx.progress
    conn = client.connection
    size = run.page_size
    settings = conn.stream_config(spec.name)
    vendor = client.connector.vendor
    plain = workers.knowing_decoder(vendor, spec.name, settings.options, ctx.redaction)
    headers = dict(settings.headers)  # the connection's, and the stream's own over them

    opening = spec.first() if run.next_page == 1 else _NOT_A_POSITION
    # a first load: no row of the table can equal a page's, so none is looked up
    probe = not await mirror.store.is_empty(ref)
    # keys missing from an earlier pass, or held deletes, are forgotten as pages see them
    forget = await mirror.store.deletes_pending(ref)
    future = _FutureStamps(spec.name)
    # a full pass's pages are remembered by their body, and not decoded when seen again
    memo = None
    if run.full:
        digest = settings_digest(vendor, spec.name, settings.options, ctx.redaction)
        memo = PageMemo(mirror, ref.stream_id, digest, recall=probe, future=future.limit)

    async def unremembered(body: bytes) -> DecodedPage:
        return await plain(body, b"", None)

    async def fetch(position: Any) -> DecodedPage:
        request = spec.page(run.params, position, size)
        if headers:
            request = dataclasses.replace(request, headers=headers)
        if spec.paging == Paging.PAGES:
            what = f"stream {spec.name} page {position}"
        elif position == spec.first():
            what = f"stream {spec.name} first page"
        else:
            what = f"stream {spec.name} page after cursor {str(position)[:80]}"
        decode = unremembered if memo is None else memo.decoder(plain, position)
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
            stats.page_read(fetched.record_count)
            merge = mirror.store.merge_page(
                ref,
                run_id=ctx.run_id,
                pass_id=run.pass_id,
                page=page,
                prepared=fetched.prepared,
                record_keys=run.full,
                stats=stats,
                after=pending[-1][2] if pending else None,
                next_cursor=fetched.next_cursor if spec.paging == Paging.CURSOR else None,
                fence=ctx.fence,
                problems=run.evidence.take(),
                evidence=run.evidence.state,
                restage=_shared_keys(fetched, pending[-1][1]) if pending else frozenset(),
                probe=probe,
                forget=forget,
                refill=refill(plain, fetched),
                remember=fetched.remember,
            )
            pending.append((page, fetched, asyncio.ensure_future(merge)))
            if len(pending) >= MERGES_IN_FLIGHT:
                done_page, done_fetched, task = pending.popleft()
                finish(done_page, done_fetched, await task)
        while pending:
            done_page, done_fetched, task = pending.popleft()
            finish(done_page, done_fetched, await task)
        if memo is not None:
            await memo.finish(prune=opening is not _NOT_A_POSITION)
    finally:
        for _, _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in pending), return_exceptions=True)
    return new_fields


def _shared_keys(page: DecodedPage, before: DecodedPage) -> frozenset[str]:
    """Keys of `page` that the page merging before it holds too (offset paging over a set
    that moved): staged whatever the mirror holds, since that merge may still change them."""
    mine = {r.key for r in page.prepared.rows}
    return frozenset(mine.intersection(r.key for r in before.prepared.rows))


def _pages(
    spec: StreamSpec,
    run: Pass,
    window: int,
    fetch: Callable[[Any], Awaitable[DecodedPage]],
    max_bytes: int | None = None,
) -> AsyncIterator[tuple[int, DecodedPage]]:
    """The pages still to read in this pass, by page number or by the vendor's cursor."""
    if spec.paging == Paging.PAGES:
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


def warn_incomplete(spec: StreamSpec, run: Pass, stats: StreamStats) -> None:
    """A pass whose evidence disagrees with the vendor: merged, but no deletes, no cursor."""
    message = (
        f"{spec.name}: pass {run.pass_id} is incomplete, so no deletes were inferred and the "
        f"cursor did not move: {run.evidence.summary()}"
    )
    log.warning("pass.incomplete", pass_id=run.pass_id, problems=run.evidence.problems)
    stats.warn(message)


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
        stats.warn(self._message(), replacing=message)

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
    stats.warn(message)


def _warn_duplicates(page: int, dropped: int, stats: StreamStats) -> None:
    """Records that repeated a key on their page: the newest was kept; one warning per run
    says how many were dropped."""
    log.warning("page.duplicate_keys", page=page, dropped=dropped)
    before = stats.duplicate_keys
    stats.duplicates_dropped(dropped)
    message = "{} records repeated a key on their page; the newest of each was kept"
    stats.warn(message.format(stats.duplicate_keys), replacing=message.format(before))


def _warn_unpaginated(spec: StreamSpec, page: DecodedPage, stats: StreamStats) -> None:
    """A response without paging information is taken as the whole set, never looped over;
    say so loudly, since a vendor that silently truncates looks exactly like this."""
    message = (
        f"{spec.name}: the response carried no paging information; took its "
        f"{page.record_count} records as the whole set"
    )
    if page.record_count in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        message += " (a round number: the vendor may have truncated the list)"
    stats.warn(message)
    log.warning("page.unpaginated", records=page.record_count, message=message)
