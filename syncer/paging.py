"""Page-number paging with a window of pages in flight, yielded strictly in page order.

The end of data is the first short or empty page, or a page whose own `totalPages` says it is
the last. Because offset paging runs on a live collection, `totalPages` is re-read from every
page: rows inserted while paging extend the pass, rows deleted end it early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from syncer import errors


class PageInfo(Protocol):
    """What paging needs to know of a fetched page."""

    @property
    def item_count(self) -> int: ...
    @property
    def total_pages(self) -> int | None: ...
    @property
    def paginated(self) -> bool: ...
    @property
    def next_cursor(self) -> Any: ...


P = TypeVar("P", bound=PageInfo)


@dataclass
class PageEnd:
    """What is known about where the data ends; pure, so it is unit-tested directly."""

    page_size: int
    total_pages: int | None = None  # latest totalPages the vendor reported
    last_page: int | None = None  # first page seen short or empty

    def observe(self, page: int, body: PageInfo) -> None:
        if body.total_pages is not None:
            self.total_pages = body.total_pages
        last = (
            body.item_count < self.page_size
            or (body.total_pages is not None and page >= body.total_pages)
            or not body.paginated  # no paging information: the response is the whole set
        )
        if last and (self.last_page is None or page < self.last_page):
            self.last_page = page

    def may_exist(self, page: int) -> bool:
        """Whether page `page` is worth requesting given what has been seen so far."""
        if self.last_page is not None:
            return page <= self.last_page
        if self.total_pages is not None:
            return page <= self.total_pages
        return True


async def pages_in_order(
    fetch: Callable[[int], Awaitable[P]],
    *,
    start: int,
    page_size: int,
    window: int,
    max_bytes: int | None = None,
) -> AsyncIterator[tuple[int, P]]:
    """Yield (page number, body) from `start` to the end of data, `window` fetches in flight.

    The first page of a pass is fetched alone so totalPages is known before fanning out.
    With `max_bytes`, the window shrinks so that that many pages of the largest body seen so
    far (`body_bytes`) fit in it, one page at least: large records cost time, not memory.
    A failed fetch cancels the others and raises; pages before it were already yielded.
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
            largest = max(largest, getattr(body, "body_bytes", 0))
            yield current, body
            if end.last_page is not None and current >= end.last_page:
                return
            current += 1
            if not end.may_exist(current):
                return
    finally:
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)


async def pages_by_cursor(
    fetch: Callable[[Any], Awaitable[P]], *, start_page: int, start: Any
) -> AsyncIterator[tuple[int, P]]:
    """Yield (page number, body) following each body's `next_cursor` until it is None.

    The next page is requested as soon as its cursor is known, so it downloads while the
    caller merges the current one. A cursor seen before means the vendor is looping: that is
    an error, never an endless pass.
    """
    seen: set[bytes] = set()
    pending: asyncio.Task[P] | None = asyncio.ensure_future(fetch(start))
    page = start_page
    try:
        while pending is not None:
            body = await pending
            pending = None
            cursor = body.next_cursor
            if cursor is not None:
                fingerprint = orjson.dumps(cursor, option=orjson.OPT_SORT_KEYS)
                if fingerprint in seen:
                    raise errors.FatalVendorError(
                        f"the vendor sent the same next-page cursor twice (page {page}); "
                        "stopping rather than looping"
                    )
                seen.add(fingerprint)
                pending = asyncio.ensure_future(fetch(cursor))
            yield page, body
            page += 1
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
