"""Run a test's queries as the analyst: a role `syncer grant-analyst` made (roles.grant_analyst),
set on the test's connection, dropped afterwards (roles are global to the server)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from syncer import roles


@contextlib.asynccontextmanager
async def as_analyst(db_url: str, db: asyncpg.Connection) -> AsyncIterator[str]:
    """`async with as_analyst(db_url, db):` the queries on `db` inside run as a fresh analyst
    role; yields its name."""
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    await roles.grant_analyst(db_url, role)
    await db.execute(f'SET ROLE "{role}"')
    try:
        yield role
    finally:
        await db.execute("RESET ROLE")
        await db.execute(f'DROP OWNED BY "{role}"')
        await db.execute(f'DROP ROLE "{role}"')
