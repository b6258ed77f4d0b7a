"""Actito pulled into real Postgres from its sandbox over HTTP."""

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

OPTIONS = {"entity": "sandbox"}
STREAMS = ("entities", "profiles:customers", "custom:orders")
start = partial(sandboxes.actito, profiles=1_200, custom_records=900)
key = sandboxes.token_fixture(sandboxes.ACTITO_KEY)


def config_for(url: str, streams: tuple[str, ...] = STREAMS, **conn: object) -> Config:
    return vendor_config(
        "actito", url, streams, options=OPTIONS, max_in_flight=4, page_size=100, **conn
    )


async def test_full_sync_equals_the_sandbox_and_a_second_writes_nothing(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = config_for(url)
    results = await engine.sync(config, db_url)
    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    await assert_mirror_equals(
        db, "actito__entities", sb.records("entities"), "entities", "actito", OPTIONS
    )
    await assert_mirror_equals(
        db,
        "actito__profiles_customers",
        sb.records("profiles"),
        "profiles:customers",
        "actito",
        OPTIONS,
    )
    await assert_mirror_equals(
        db, "actito__custom_orders", sb.records("custom"), "custom:orders", "actito", OPTIONS
    )
    assert sb.token_requests == 1  # one token for the whole run, shared by the streams
    again = await engine.sync(config, db_url)
    assert [(r.stats.inserted, r.stats.updated) for r in again] == [(0, 0)] * 3


async def test_a_generation_lands_and_deletes_wait_for_a_second_pass(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = config_for(url, ("profiles:customers",))
    await engine.sync(config, db_url)
    sb.generation(change_pct=2.0, delete_pct=1.0, insert_pct=1.0)
    [first] = await engine.sync(config, db_url)
    assert first.stats.updated > 0 and first.stats.inserted > 0 and first.stats.deleted == 0
    [second] = await engine.sync(config, db_url)
    assert second.stats.deleted > 0
    await assert_mirror_equals(
        db,
        "actito__profiles_customers",
        sb.records("profiles"),
        "profiles:customers",
        "actito",
        OPTIONS,
    )


async def test_token_expiry_mid_run_loses_no_page_and_asks_once_per_lifetime(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """A 1 s token across a run of several seconds: refreshed ahead of expiry, never per page."""
    url, sb = await start(serve, token_ttl_seconds=1, latency_ms=150)
    [result] = await engine.sync(config_for(url, ("profiles:customers",), window=1), db_url)
    assert result.status == "succeeded", result.error
    await assert_mirror_equals(
        db,
        "actito__profiles_customers",
        sb.records("profiles"),
        "profiles:customers",
        "actito",
        OPTIONS,
    )
    pages = result.stats.pages
    assert 1 < sb.token_requests < pages  # refreshed, but far less often than once per page


async def test_the_concurrency_cap_is_never_hit(serve: Serve, db_url: str, key: str) -> None:
    """Four in flight at most, though every stream wants more: the fifth slot stays free."""
    url, sb = await start(serve, latency_ms=40)
    results = await engine.sync(config_for(url, window=8), db_url)
    assert all(r.status == "succeeded" for r in results)
    assert sb.count_status(429) == 0 and sb.max_concurrent <= 4


async def test_a_revoked_key_fails_with_the_auth_code(
    serve: Serve, db_url: str, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    url, _ = await start(serve)
    monkeypatch.setenv(TOKEN_ENV, "revoked-key-000")
    [result] = await engine.sync(config_for(url, ("entities",)), db_url)
    assert result.exit_code == errors.ExitCode.AUTH_OR_CONFIG
    assert result.error is not None and "revoked-key-000" not in result.error


async def test_attributes_are_columns_of_the_typed_view(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    await engine.sync(config_for(url, ("profiles:customers",)), db_url)
    count = await db.fetchval(
        "SELECT count(email_address) FROM mirror_view.actito__profiles_customers"
    )
    assert count == sum(
        1
        for p in sb.records("profiles")
        if any(a["name"] == "emailAddress" and a["value"] for a in p["attributes"])
    )
