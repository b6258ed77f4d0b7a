"""Outbox rows for tests: inserting them as an application would, and reading their states.
One place for what eight test modules wrote by hand (`INSERT INTO syncer.outbox ...`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson

_INSERT = (
    "INSERT INTO syncer.outbox (connection, endpoint, operation, payload) "
    "VALUES ($1, $2, $3, $4::jsonb)"
)


async def insert(db: asyncpg.Connection, rows: Sequence[tuple[str, str, str, Any]]) -> None:
    """Insert (connection, endpoint, operation, payload) rows, in this order (ids ascending)."""
    await db.executemany(_INSERT, [(c, e, o, orjson.dumps(p).decode()) for c, e, o, p in rows])


async def enqueue(
    db: asyncpg.Connection, connection: str, endpoint: str, operation: str, rows: Sequence[Any]
) -> None:
    """Insert `rows` (payloads) for one endpoint and operation."""
    await insert(db, [(connection, endpoint, operation, row) for row in rows])


def enqueuer(
    connection: str,
) -> Callable[[asyncpg.Connection, str, str, Sequence[Any]], Awaitable[None]]:
    """`enqueue` for one connection: `await enqueue(db, endpoint, operation, rows)`."""

    async def bound(
        db: asyncpg.Connection, endpoint: str, operation: str, rows: Sequence[Any]
    ) -> None:
        await enqueue(db, connection, endpoint, operation, rows)

    return bound


async def states(db: asyncpg.Connection) -> dict[str, int]:
    """How many outbox rows are in each state."""
    rows = await db.fetch("SELECT state, count(*) AS n FROM syncer.outbox GROUP BY state")
    return {r["state"]: r["n"] for r in rows}
