"""Fixtures of the integration tests that more than one module uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncer.mirror import Mirror
from syncer.sql import queries
from tests.integration.test_sql_hardening import plant


@pytest.fixture
async def hostile_first(db_url: str, db: asyncpg.Connection) -> AsyncIterator[Mirror]:
    """A Mirror whose sessions search a schema of planted functions before pg_catalog, as an
    unpinned session would under a hostile search_path: only schema-qualified calls escape."""
    await plant(db, "hostile")

    async def init(conn: asyncpg.Connection) -> None:
        await conn.execute(queries["create_stage"])

    pool = await asyncpg.create_pool(
        db_url,
        min_size=1,
        max_size=8,
        init=init,
        server_settings={"search_path": "hostile, pg_catalog, pg_temp"},
    )
    assert pool is not None
    try:
        yield Mirror(pool)
    finally:
        await pool.close()
