"""syncer's memory does not grow with the records a pass reads (issue 15: peak RSS flat from
100,000 to 1,000,000 records; `make bench-large` measures the processes).

Here the structure of it: through a first load and an unchanged re-sync of 40,000 records in
pages of 200, the memory Python holds (tracemalloc, after a collection; the sandbox's own
records left out) is read as each page commits. Its floor (the least of 40 readings, so
whatever pages happen to be in flight drops out) over pages 161 to 200 is that over pages 21
to 60, within a small allowance. Anything kept per key or per record for the rest of a pass
(a set of the keys seen, a list of the rows' hashes, a stats list) costs tens of bytes a
record, so the 28,000 records between the two stretches raise the floor by megabytes. What
grows per page (the pass's page fingerprints, syncer.evidence: about 150 bytes a page) is well
within the allowance.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from syncer import engine
from syncer.models import StreamStats
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

RECORDS, PAGE = 40_000, 200
#: the stretches of pages whose floors are compared
EARLY, LATE = range(21, 61), range(161, 201)
#: records read between the two stretches
BETWEEN = (LATE.start - EARLY.start) * PAGE
#: the floor may rise by at most this many bytes a record read (measured: it falls by 6 to 10;
#: a set of the keys seen, kept for the pass, raises it by about 120)
ALLOWANCE = 20


class _Readings:
    """The memory Python holds as each page commits (a run's `Progress`)."""

    def __init__(self) -> None:
        self.at: dict[int, int] = {}

    def resumed(self, connection: str, stream: str, pass_id: int, page: int) -> None:
        raise AssertionError("a new pass was expected")

    def page(
        self, connection: str, stream: str, page: int, total: int | None, stats: StreamStats
    ) -> None:
        if page in EARLY or page in LATE:
            gc.collect()  # garbage waiting for the collector is not memory held
            self.at[page] = tracemalloc.get_traced_memory()[0]

    def floor(self, pages: range) -> int:
        return min(self.at[p] for p in pages)


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


async def test_memory_does_not_grow_with_the_records_of_a_pass(
    sandbox: SandboxFactory, db_url: str, token_env: str, traced: None
) -> None:
    url, _ = await sandbox(master_records=RECORDS, module_records=1)
    tracemalloc.clear_traces()  # the sandbox's records are not syncer's
    config = exto_config(url, page_size=PAGE)
    for run in ("first load", "unchanged re-sync"):
        readings = _Readings()
        [result] = await engine.sync(config, db_url, progress=readings)
        assert result.status == "succeeded", result.error
        assert result.stats.pages == RECORDS // PAGE
        early, late = readings.floor(EARLY), readings.floor(LATE)
        growth = (late - early) / BETWEEN
        assert growth < ALLOWANCE, (
            f"{run}: {early / 2**20:.2f} MB held around page {EARLY.start}, "
            f"{late / 2**20:.2f} MB around page {LATE.start}: {growth:.0f} bytes per record read"
        )
