"""A pass that did not see everything is never complete (issue 10, part 1): Exto's sandbox tells
paging lies over HTTP, syncer writes into real Postgres."""

from __future__ import annotations

import asyncpg
import pytest

from syncer import engine, errors
from syncer.run import StreamResult
from syncer.sandbox.exto import ExtoSandbox
from tests.conftest import SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals, live

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"


async def loaded(sandbox: SandboxFactory, db_url: str, **knobs: object) -> tuple[str, ExtoSandbox]:
    """A sandbox of 3,000 records and a mirror that already holds them all."""
    url, sb = await sandbox(master_records=3_000, **knobs)
    [first] = await engine.sync(exto_config(url, page_size=100), db_url)
    assert first.status == "succeeded", first.error
    return url, sb


async def full_pass(url: str, db_url: str, **conn: object) -> StreamResult:
    [result] = await engine.sync(exto_config(url, page_size=100, **conn), db_url)
    return result


@pytest.mark.parametrize(
    ("lie", "expected"),
    [
        (
            {"short_pages": (3,)},
            "page 3 held 99 records where the vendor's total of 3000 means 100",
        ),
        ({"empty_pages": (5,)}, "page 5 held 0 records where the vendor's total of 3000 means 100"),
        ({"total_pages_delta": -5}, "reported totalPages 25, but a total of 3000"),
        (
            {"total_delta": -500},
            "page 26 held 100 records where the vendor's total of 2500 means 0",
        ),
        ({"repeat_pages": (7,)}, "page 7 held the same records as page 6"),
        ({"total_delta": 400}, "page 31 held 0 records where the vendor's total of 3400 means 100"),
    ],
)
async def test_a_pass_that_contradicts_the_vendor_deletes_nothing(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    lie: dict[str, object],
    expected: str,
) -> None:
    """Two full passes in a row against a lying vendor: what was read is merged, nothing is
    deleted, the run says why it is incomplete (exit 3), and no cursor moves."""
    url, sb = await loaded(sandbox, db_url)
    cursor = await db.fetchval("SELECT cursor FROM syncer.stream_state")
    sb.config.apply(lie)
    for _ in range(2):
        result = await full_pass(url, db_url)
        assert result.status == "incomplete", result.error
        assert result.exit_code == errors.ExitCode.QUARANTINED
        assert result.stats.deleted == 0
        assert any(expected in w for w in result.stats.warnings), result.stats.warnings
    assert len(await live(db, TABLE)) == 3_000
    run = await db.fetchrow(
        "SELECT status, complete, warnings FROM syncer.runs ORDER BY run_id DESC"
    )
    assert (run["status"], run["complete"]) == ("incomplete", False)
    assert any(expected in w for w in run["warnings"])
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") == cursor
    sb.config.apply(
        {
            "short_pages": [],
            "empty_pages": [],
            "repeat_pages": [],
            "total_delta": 0,
            "total_pages_delta": 0,
        }
    )
    healed = await full_pass(url, db_url)
    assert healed.status == "succeeded" and healed.exit_code == errors.ExitCode.OK
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


@pytest.mark.parametrize("envelope", ["rows", "array"])
async def test_a_vendor_that_ignores_the_page_number_ends_the_pass_at_once(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    envelope: str,
) -> None:
    """The second answer repeats the first: reading stops (a few requests, never an endless
    pass), nothing is deleted, and the next run starts a new pass instead of resuming a loop."""
    url, sb = await loaded(sandbox, db_url)
    sb.config.apply({"ignore_page": True, "envelope": envelope})
    sb.reset_log()
    result = await full_pass(url, db_url, window=4)
    assert result.status == "incomplete" and result.stats.deleted == 0
    assert any("held the same records as page 1" in w for w in result.stats.warnings)
    assert len(sb.request_log) <= 1 + 4  # the first page alone, then one window
    assert await db.fetchval("SELECT count(*) FROM syncer.pass_key_pages") == 0
    assert await db.fetchval("SELECT count(*) FROM syncer.passes") == 0
    again = await full_pass(url, db_url, window=4)
    assert again.status == "incomplete" and len(sb.request_log) <= 2 * (1 + 4)
    assert len(await live(db, TABLE)) == 3_000


async def test_records_past_under_reported_counts_are_read_too(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Both counts under-reported from the first load on: syncer reads on past them (the page
    after the reported end held records), merges everything, and says the pass is incomplete."""
    url, sb = await sandbox(master_records=3_000, total_delta=-1_000)
    result = await full_pass(url, db_url)
    assert result.status == "incomplete" and result.stats.records == 3_000
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


async def test_a_healthy_pass_confirms_its_end_with_one_request(
    sandbox: SandboxFactory, db_url: str, token_env: str
) -> None:
    url, sb = await sandbox(master_records=3_000)
    result = await full_pass(url, db_url)
    pages = [e.query.get("page") for e in sb.request_log]
    assert result.status == "succeeded" and result.stats.pages == 30
    assert sorted(map(int, pages)) == list(range(1, 32))  # page 31 came back empty
