"""Migrations apply once, in order, and a second run changes nothing."""

from __future__ import annotations

import asyncpg
import pytest

from syncer import migrate

pytestmark = pytest.mark.integration


async def test_migrating_again_applies_nothing(db_url: str, db: asyncpg.Connection) -> None:
    """The template was migrated already: every migration is recorded and none runs twice."""
    versions = [m.version for m in migrate.discover()]
    recorded = [
        r["version"]
        for r in await db.fetch("SELECT version FROM syncer.schema_migrations ORDER BY version")
    ]
    assert recorded == versions
    tables_before = await db.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'syncer'")
    assert await migrate.migrate(db_url) == []
    assert (
        await db.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'syncer'")
        == tables_before
    )
