"""The job queue's tables: procrastinate's own schema.sql, applied into schema `syncer_jobs` by
`syncer migrate` (migration 0009_jobs_schema runs `apply` in its transaction).

procrastinate keeps no record of which of its migrations a database has; syncer records the
procrastinate version whose schema it applied in `syncer.jobs_schema`, and refuses to run
workers on a schema from another version (`check`) rather than fail in the middle of a job.
Every connection procrastinate makes sets `search_path` to the schema (its functions name their
tables without one).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from syncer import errors

#: where procrastinate's tables, types and functions live
SCHEMA = "syncer_jobs"
#: the migration whose transaction applies them
MIGRATION = "0009_jobs_schema"

#: a running job whose worker has not beaten its heart for this long is stalled: the worker was
#: killed (SIGKILL, a lost machine). Workers beat every 10 s; a minute leaves room for a busy
#: event loop, and a live worker is never taken for dead (its job would then run twice, held
#: apart only by the stream's lock and fence). Here, not in syncer.jobs: the CLI reads it
#: without importing procrastinate.
STALLED_AFTER = 60


def installed_version() -> str:
    return version("procrastinate")


async def apply(conn: Any) -> None:
    """Create procrastinate's objects in SCHEMA, inside the caller's transaction (asyncpg)."""
    from procrastinate.schema import SchemaManager  # only when the migration runs

    await conn.execute(f"SET LOCAL search_path = {SCHEMA}")
    await conn.execute(SchemaManager.get_schema())
    await conn.execute("SET LOCAL search_path = pg_catalog, pg_temp")
    await conn.execute("INSERT INTO syncer.jobs_schema (version) VALUES ($1)", installed_version())


async def check(conn: Any) -> None:
    """Raise a ConfigError unless the job queue's schema is there, from this procrastinate."""
    row = await conn.fetchrow(
        "SELECT pg_catalog.to_regclass('syncer.jobs_schema') IS NOT NULL AS present"
    )
    applied = None
    if row["present"]:
        applied = await conn.fetchval("SELECT version FROM syncer.jobs_schema")
    if applied is None:
        raise errors.ConfigError("the job queue's tables are missing: run `syncer migrate`")
    if applied != installed_version():
        raise errors.ConfigError(
            f"the job queue's tables were made by procrastinate {applied}, and this syncer "
            f"runs procrastinate {installed_version()}: stop every worker, then apply "
            "procrastinate's migrations between the two (docs/operations.md)"
        )
