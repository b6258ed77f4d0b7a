"""XtraKit pulled into real Postgres from its sandbox over HTTP."""

from __future__ import annotations

from functools import partial

import asyncpg
import pytest

from syncer import engine, errors
from tests import sandboxes
from tests.conftest import vendor_config
from tests.integration.mirror_check import assert_mirror_equals
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

STREAMS = ("customers", "items", "categories", "sales")
start = partial(sandboxes.xtrakit, customers=1_500, items=1_200, categories=30, sales=1_100)
key = sandboxes.token_fixture(sandboxes.XTRAKIT_KEY)


async def test_full_sync_equals_the_sandbox_and_a_second_writes_nothing(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, STREAMS)
    results = await engine.sync(config, db_url)
    assert [r.status for r in results] == ["succeeded"] * 4, [r.error for r in results]
    for name in STREAMS:
        await assert_mirror_equals(db, f"xtrakit__{name}", sb.records(name), name, "xtrakit")
    again = await engine.sync(config, db_url)
    assert [(r.stats.inserted, r.stats.updated, r.stats.deleted) for r in again] == [(0, 0, 0)] * 4
    assert all(not r.stats.warnings for r in again)


async def test_a_generation_lands(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    await engine.sync(config, db_url)
    sb.generation(change_pct=2.0, delete_pct=1.0, insert_pct=1.0)
    [result] = await engine.sync(config, db_url)
    assert result.stats.updated > 0 and result.stats.inserted > 0
    # no lookup by id is documented: a missing key is deleted after two complete passes
    assert result.stats.deleted == 0
    [second] = await engine.sync(config, db_url)
    assert second.stats.deleted > 0 and (second.stats.inserted, second.stats.updated) == (0, 0)
    await assert_mirror_equals(
        db, "xtrakit__customers", sb.records("customers"), "customers", "xtrakit"
    )


async def test_missing_pagination_is_detected_never_looped_and_said_out_loud(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """Without pagination the list is taken as the whole set: one request, and a warning."""
    url, _ = await start(serve, pagination=False)
    [result] = await engine.sync(vendor_config("xtrakit", url, ("customers",)), db_url)
    assert result.status == "succeeded"
    assert result.stats.requests == 1 and result.stats.records == 20
    assert any("no paging information" in w and "truncated" in w for w in result.stats.warnings)
    warnings = await db.fetchval("SELECT warnings FROM syncer.runs")
    assert warnings == result.stats.warnings


async def test_a_suspended_account_stops_at_once_with_the_auth_code(
    serve: Serve, db_url: str, key: str
) -> None:
    url, sb = await start(serve, suspended=True)
    [result] = await engine.sync(vendor_config("xtrakit", url, ("items",)), db_url)
    assert result.exit_code == errors.ExitCode.AUTH_OR_CONFIG
    assert result.error is not None and "402" in result.error
    assert sandboxes.XTRAKIT_KEY not in result.error
    assert len(sb.request_log) == 1


async def test_money_and_quantities_sent_as_strings_are_numbers_in_the_view(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, _ = await start(serve)
    await engine.sync(vendor_config("xtrakit", url, ("items", "sales")), db_url)
    types = {
        (r["table_name"], r["column_name"]): r["data_type"]
        for r in await db.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'mirror_view'"
        )
    }
    assert types[("xtrakit__items", "quantity")] == "numeric"
    assert types[("xtrakit__sales", "total_amount")] == "numeric"
    raw = await db.fetchval(
        "SELECT _data->>'quantity' FROM mirror.xtrakit__items ORDER BY _pk LIMIT 1"
    )
    typed = await db.fetchval(
        "SELECT quantity FROM mirror_view.xtrakit__items ORDER BY _pk LIMIT 1"
    )
    assert isinstance(raw, str) and typed == float(raw)
