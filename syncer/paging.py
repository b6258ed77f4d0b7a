"""Page-number paging with a window of pages in flight, yielded strictly in page order, and
cursor paging that follows the vendor's `next` cursor.

The end of page-number data is the last page the vendor reported, or the first short page when
it reports nothing, and one more request confirms it (see `PageEnd`). Because offset paging
runs on a live collection, counts are re-read from every page: rows inserted while paging
extend the pass, rows deleted end it early. `syncer.evidence` decides whether what was read
agrees with what the vendor reported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from syncer import errors
from syncer.evidence import PageCounts, PassEvidence


class PageInfo(PageCounts, Protocol):
    """What paging needs to know of a fetched page: its counts, and where the next starts."""

    @property
    def next_cursor(self) -> Any: ...


P = TypeVar("P", bound=PageInfo)

#: past the last page the vendor reported, reading stops at twice that many pages and this many
#: more: counts that lie that much describe no collection worth trusting
BEYOND_REPORT = 10


@dataclass
class PageEnd:
    """Where the data ends, as far as the pages seen so far tell; pure, so it is unit-tested.

    The end is the last page the vendor reported (`totalPages`, else `total` / page size) or,
    with no report, the first page holding fewer than a full page, whichever is later; and it
    is confirmed by one page more, which must come back empty. A page past the report that
    still holds records moves the end on (the vendor under-reported), up to a cap.
    """

    page_size: int
    reported: int | None = None  # the largest extent, in pages, any answer reported
    highest: int = 0  # the highest page seen holding records
    short: int | None = None  # the first page seen holding fewer than a full page
    whole: bool = False  # an answer without paging information: the whole set

    def observe(self, page: int, body: PageInfo) -> None:
        extent = body.total_pages
        if body.total_records is not None:
            implied = math.ceil(body.total_records / self.page_size)
            extent = implied if extent is None else max(extent, implied)
        if extent is not None:
            self.reported = extent if self.reported is None else max(self.reported, extent)
        if body.item_count > 0:
            self.highest = max(self.highest, page)
        if body.item_count < self.page_size and self.short is None:
            self.short = page
        if not body.paginated:
            self.whole = True

    def horizon(self) -> int | None:
        """The last page the data is known to reach; None while nothing bounds it yet."""
        if self.reported is None and self.short is None:
            return None
        return max(self.reported or 0, self.highest)

    def may_exist(self, page: int) -> bool:
        """Whether page `page` is worth requesting (the page after the horizon confirms it)."""
        if self.whole:
            return False
        horizon = self.horizon()
        return horizon is None or page <= horizon + 1

    def past_the_data(self, page: int, body: PageInfo) -> bool:
        """Page `page` confirms the end: it holds nothing and lies past everything reported."""
        return body.item_count == 0 and page > max(self.reported or 0, self.highest)

    def cap(self) -> int | None:
        """The last page worth reading however the vendor's answers go on."""
        if self.reported is None:
            return None
        return 2 * self.reported + BEYOND_REPORT


async def pages_in_order(
    fetch: Callable[[int], Awaitable[P]],
    *,
    start: int,
    page_size: int,
    window: int,
    max_bytes: int | None = None,
    evidence: PassEvidence | None = None,
) -> AsyncIterator[tuple[int, P]]:
    """Yield (page number, body) from `start` to the end of data, `window` fetches in flight.

    The first page of a pass is fetched alone so the vendor's counts are known before fanning
    out. The end is confirmed by one request more (`PageEnd`), which is not yielded when it
    comes back empty. With `max_bytes`, the window shrinks so that that many pages of the
    largest body seen so far (`body_bytes`) fit in it, one page at least: large records cost
    time, not memory. With `evidence`, each page is checked against the counts it reports, and
    a page repeating an earlier one stops the reading. A failed fetch cancels the others and
    raises; pages before it were already yielded.
    """
    end = PageEnd(page_size)
    tasks: dict[int, asyncio.Task[P]] = {}
    next_to_schedule = start
    current = start
    largest = 0
    try:
        while True:
            limit = window if current > start else 1
            if max_bytes and largest:
                limit = max(1, min(limit, max_bytes // largest))
            while len(tasks) < limit and end.may_exist(next_to_schedule):
                tasks[next_to_schedule] = asyncio.ensure_future(fetch(next_to_schedule))
                next_to_schedule += 1
            task = tasks.pop(current, None)
            if task is None:
                return
            body = await task
            end.observe(current, body)
            if evidence is not None and not evidence.observe(current, body):
                return
            if end.past_the_data(current, body):
                return
            largest = max(largest, getattr(body, "body_bytes", 0))
            yield current, body
            current += 1
            cap = end.cap()
            if cap is not None and current > cap and end.may_exist(current):
                if evidence is not None:
                    evidence.note(
                        f"stopped reading at page {current - 1}: pages still held records "
                        f"past twice the {end.reported} pages the vendor reported"
                    )
                return
            if not end.may_exist(current):
                return
    finally:
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)


async def pages_by_cursor(
    fetch: Callable[[Any], Awaitable[P]],
    *,
    start_page: int,
    start: Any,
    evidence: PassEvidence | None = None,
) -> AsyncIterator[tuple[int, P]]:
    """Yield (page number, body) following each body's `next_cursor` until it is None.

    The next page is requested as soon as its cursor is known, so it downloads while the
    caller merges the current one. A cursor seen before, or a page repeating an earlier one,
    means the vendor is looping: reading stops there (the pass is incomplete), never an
    endless pass.
    """
    seen: set[bytes] = set()
    pending: asyncio.Task[P] | None = asyncio.ensure_future(fetch(start))
    page = start_page
    try:
        while pending is not None:
            body = await pending
            pending = None
            if evidence is not None and not evidence.observe(page, body):
                return
            cursor = body.next_cursor
            if cursor is not None:
                fingerprint = orjson.dumps(cursor, option=orjson.OPT_SORT_KEYS)
                if fingerprint in seen:
                    if evidence is None:
                        raise errors.FatalVendorError(
                            f"the vendor sent the same next-page cursor twice (page {page}); "
                            "stopping rather than looping"
                        )
                    evidence.note(
                        f"page {page} gave a next-page cursor the vendor had already given: it "
                        "was looping; stopped reading after that page"
                    )
                    cursor = None
                    body = _last(body)
                else:
                    seen.add(fingerprint)
                    pending = asyncio.ensure_future(fetch(cursor))
            yield page, body
            page += 1
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


def _last(body: P) -> P:
    """`body` as the last page of its pass (its looping cursor dropped), for the checkpoint."""
    if dataclasses.is_dataclass(body) and not isinstance(body, type):
        return dataclasses.replace(body, next_cursor=None)
    return body
