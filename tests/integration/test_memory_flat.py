"""syncer's memory does not grow with the records a pass reads (issue 15: peak RSS flat from
100,000 to 1,000,000 records; `make bench-large` measures the processes).

Here the structure of it: the peak of the memory Python allocated during a first load and an
unchanged re-sync (tracemalloc; the sandboxes' own records left out) is the same, within a
small allowance, for a pass four times longer. Anything kept per key or per record for the rest
of a pass (a set of the keys seen, a list of the rows' hashes, a stats list) costs tens of bytes
a record, so 30,000 more records raise the peak by megabytes; pages of 200 records keep what is
legitimately in flight (the window of pages) small beside that. What grows per page (the pass's
page fingerprints, syncer.evidence: about 150 bytes a page) is well within the allowance.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from syncer import engine
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

SMALL, LARGE = 10_000, 40_000
PAGE = 200
#: the peak may rise by at most this many bytes a record more (measured: -6 to +5, noise; a set
#: of the keys seen, kept for the pass, costs about 107)
ALLOWANCE = 20
RUNS = ("first load", "unchanged re-sync")


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


async def _peaks(name: str, url: str, db_url: str) -> list[int]:
    """The peak bytes allocated above the start of each run of connection `name`: a first
    load, then an unchanged re-sync."""
    config = exto_config(url, name=name, page_size=PAGE)
    peaks = []
    for _ in RUNS:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        [result] = await engine.sync(config, db_url)
        assert result.status == "succeeded", result.error
        peaks.append(tracemalloc.get_traced_memory()[1] - start)
    return peaks


async def test_peak_memory_does_not_grow_with_the_records_of_a_pass(
    sandbox: SandboxFactory, db_url: str, token_env: str, traced: None
) -> None:
    small_url, _ = await sandbox(master_records=SMALL, module_records=1)
    large_url, _ = await sandbox(master_records=LARGE, module_records=1)
    tracemalloc.clear_traces()  # the sandboxes' records are not syncer's
    small = await _peaks("small", small_url, db_url)
    large = await _peaks("large", large_url, db_url)
    for run, (a, b) in zip(RUNS, zip(small, large, strict=True), strict=True):
        growth = (b - a) / (LARGE - SMALL)
        assert growth < ALLOWANCE, (
            f"{run}: peak {a / 2**20:.1f} MB at {SMALL:,} records, {b / 2**20:.1f} MB at "
            f"{LARGE:,}: {growth:.0f} bytes more per record"
        )
