"""Page-order fetching and end-of-data detection, with fake fetches and no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from syncer.models import PageBody
from syncer.paging import PageEnd, pages_in_order


def body(n: int, total_pages: int | None = None) -> PageBody:
    return PageBody(list(range(n)), n, total_pages)


def test_short_page_ends_the_data_and_one_more_page_confirms_it() -> None:
    end = PageEnd(page_size=10)
    end.observe(3, body(4))
    assert end.may_exist(4) and not end.may_exist(5)
    assert end.past_the_data(4, body(0)) and not end.past_the_data(4, body(2))


def test_total_pages_bounds_the_pages_and_grows_with_inserts() -> None:
    end = PageEnd(page_size=10)
    end.observe(1, body(10, total_pages=3))
    assert end.may_exist(4) and not end.may_exist(5)
    end.observe(2, body(10, total_pages=4))
    assert end.may_exist(5) and not end.may_exist(6)


def test_records_past_the_report_move_the_end_on() -> None:
    """A vendor that under-reports: the page after its last still held records."""
    end = PageEnd(page_size=10)
    end.observe(1, body(10, total_pages=2))
    end.observe(3, body(10, total_pages=2))
    assert not end.past_the_data(3, body(10, total_pages=2))
    assert end.may_exist(4) and not end.may_exist(5)
    assert end.cap() == 2 * 2 + 10


def test_an_empty_page_inside_the_report_is_not_the_end() -> None:
    end = PageEnd(page_size=10)
    end.observe(1, body(10, total_pages=5))
    end.observe(2, body(0, total_pages=5))
    assert not end.past_the_data(2, body(0, total_pages=5)) and end.may_exist(6)


async def collect(fetch, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    return [p async for p, _ in pages_in_order(fetch, **kw)]


async def test_pages_come_in_order_and_stop_at_total_pages() -> None:
    """Out-of-order completions are yielded in page order; totalPages, and one more request
    confirms the end."""
    requested: list[int] = []

    async def fetch(page: int) -> PageBody:
        requested.append(page)
        await asyncio.sleep(0 if page % 2 else 0.001)
        return body(10 if page < 5 else (3 if page == 5 else 0), total_pages=5)

    assert await collect(fetch, start=1, page_size=10, window=4) == [1, 2, 3, 4, 5]
    assert sorted(requested) == [1, 2, 3, 4, 5, 6]


async def test_bare_arrays_stop_at_the_first_short_page() -> None:
    """Without totalPages the window speculates, and pages past a short one are not yielded."""

    async def fetch(page: int) -> PageBody:
        return body(10 if page < 3 else (4 if page == 3 else 0))

    assert await collect(fetch, start=1, page_size=10, window=3) == [1, 2, 3]


async def test_a_full_last_page_ends_the_data_when_total_pages_says_so() -> None:
    async def fetch(page: int) -> PageBody:
        return body(10 if page <= 2 else 0, total_pages=2)

    assert await collect(fetch, start=1, page_size=10, window=2) == [1, 2]


async def test_without_total_pages_a_full_last_page_checks_the_next_one() -> None:
    """The empty page after the data is requested (it ends the data) but not yielded."""
    requested: list[int] = []

    async def fetch(page: int) -> PageBody:
        requested.append(page)
        return body(10 if page <= 2 else 0)

    assert await collect(fetch, start=1, page_size=10, window=1) == [1, 2]
    assert requested == [1, 2, 3]


async def test_resume_starts_at_the_checkpoint() -> None:
    async def fetch(page: int) -> PageBody:
        return body(10 if page < 4 else (1 if page == 4 else 0), total_pages=4)

    assert await collect(fetch, start=3, page_size=10, window=2) == [3, 4]


async def test_window_bounds_fetches_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def fetch(page: int) -> PageBody:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return body(10 if page < 20 else 0, total_pages=None)

    pages = await collect(fetch, start=1, page_size=10, window=3)
    assert pages == list(range(1, 20)) and peak <= 3


async def test_a_failed_page_raises_after_the_pages_before_it() -> None:
    seen: list[int] = []

    async def fetch(page: int) -> PageBody:
        if page == 3:
            raise RuntimeError("boom")
        return body(10, total_pages=10)

    with pytest.raises(RuntimeError):
        async for page, _ in pages_in_order(fetch, start=1, page_size=10, window=4):
            seen.append(page)
    assert seen == [1, 2]


async def test_large_pages_shrink_the_window_to_the_byte_budget() -> None:
    """Pages of 40 bytes under a budget of 100: at most 2 in flight; never less than 1."""
    in_flight = 0
    most = 0

    @dataclasses.dataclass
    class Sized:
        item_count: int
        total_pages: int | None = 20
        paginated: bool = True
        next_cursor: None = None
        body_bytes: int = 40
        total_records: int | None = None

    async def fetch(page: int) -> Sized:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return Sized(10 if page <= 20 else 0)

    pages = await collect(fetch, start=1, page_size=10, window=8, max_bytes=100)
    assert pages == list(range(1, 21)) and most == 2
    most = 0
    assert await collect(fetch, start=1, page_size=10, window=8, max_bytes=10) == pages
    assert most == 1
    most = 0
    assert await collect(fetch, start=1, page_size=10, window=8) == pages
    assert most == 8
