"""Ioto pulled into real Postgres from its sandbox over HTTP."""

from __future__ import annotations

from functools import partial

import asyncpg
import pytest

from syncer import engine, errors
from syncer.settings import Config
from tests import sandboxes
from tests.conftest import TOKEN_ENV, vendor_config
from tests.integration.mirror_check import assert_mirror_equals
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

OPTIONS = {"account_id": "01SANDBOXACCOUNT000000000"}
STREAMS = {"devices": "Device", "store": "Store", "generic:Log": "Log"}
start = partial(sandboxes.ioto, devices=1_100, store_items=1_300, logs=900)
token = sandboxes.token_fixture(sandboxes.IOTO_TOKEN)


def config_for(url: str, streams: tuple[str, ...] = tuple(STREAMS), **conn: object) -> Config:
    return vendor_config("ioto", url, streams, options=OPTIONS, **conn)


def table(stream: str) -> str:
    return "ioto__" + stream.replace(":", "_").lower()


async def test_full_sync_equals_the_sandbox_and_a_second_writes_nothing(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    results = await engine.sync(config_for(url), db_url)
    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    for stream, model in STREAMS.items():
        await assert_mirror_equals(db, table(stream), sb.records(model), stream, "ioto", OPTIONS)
    again = await engine.sync(config_for(url), db_url)
    assert [(r.stats.inserted, r.stats.updated) for r in again] == [(0, 0)] * 3


async def test_short_and_empty_pages_are_followed_to_the_end(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    """Filtered (short) and empty pages still carry `next`: syncer reads on until it is gone."""
    url, sb = await start(serve, filtered_ratio=0.3, empty_page_every=3)
    [result] = await engine.sync(config_for(url, ("store",), page_size=200), db_url)
    assert result.status == "succeeded"
    await assert_mirror_equals(db, table("store"), sb.records("Store"), "store", "ioto", OPTIONS)
    short = [e for e in sb.request_log if e.status == 200]
    assert len(short) == result.stats.pages > 1300 // 200


async def test_a_generation_lands(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    config = config_for(url, ("devices",))
    await engine.sync(config, db_url)
    sb.generation(change_pct=3.0, delete_pct=1.0, insert_pct=1.0)
    [first] = await engine.sync(config, db_url)
    assert first.stats.updated > 0 and first.stats.inserted > 0
    assert first.stats.deleted == 0  # no lookup by key: deleted after two complete passes
    [second] = await engine.sync(config, db_url)
    assert second.stats.deleted > 0
    await assert_mirror_equals(
        db, table("devices"), sb.records("Device"), "devices", "ioto", OPTIONS
    )


async def test_403_text_is_an_auth_failure(
    serve: Serve, db_url: str, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """Ioto answers a bad token with 403 text/plain: never parsed as JSON, not retried."""
    url, sb = await start(serve)
    monkeypatch.setenv(TOKEN_ENV, "bad-ioto-token")
    [result] = await engine.sync(config_for(url, ("devices",)), db_url)
    assert result.exit_code == errors.ExitCode.AUTH_OR_CONFIG
    assert (
        result.error is not None and "403" in result.error and "bad-ioto-token" not in result.error
    )
    assert "Authentication failed" in result.error
    assert len(sb.request_log) == 1
