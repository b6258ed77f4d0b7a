"""Apply migrations/NNNN_name.sql in order, once each, recorded in syncer.schema_migrations.

Each migration runs in its own transaction under an advisory lock, so two processes
migrating at once apply each file exactly once. Migrations run with syncer's pinned session
settings (search_path `pg_catalog, pg_temp`): every object they create or use is named with
its schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from syncer import errors, jobs_schema
from syncer.mirror import connect_one, translate_errors

log = structlog.get_logger(__name__)

_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK = "syncer.migrate"
_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS syncer;
CREATE TABLE IF NOT EXISTS syncer.schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
"""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path


def migrations_dir() -> Path:
    """migrations/ beside the package in a checkout, or the copy inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "migrations", here / "migrations"):
        if candidate.is_dir():
            return candidate
    raise errors.ConfigError(f"cannot find the migrations directory near {here}")


def discover(directory: Path | None = None) -> list[Migration]:
    found = []
    for path in sorted((directory or migrations_dir()).iterdir()):
        match = _FILE.match(path.name)
        if match:
            found.append(Migration(path.stem, path))
    return found


async def migrate(url: str, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; return the versions applied now."""
    applied_now: list[str] = []
    with translate_errors("connecting to migrate"):
        conn = await connect_one(url)
    try:
        await conn.execute(
            "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended($1, 0))", _LOCK
        )
        try:
            await conn.execute(_BOOTSTRAP)
            done = {
                r["version"]
                for r in await conn.fetch("SELECT version FROM syncer.schema_migrations")
            }
            for migration in discover(directory):
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.path.read_text(encoding="utf-8"))
                    if migration.version == jobs_schema.MIGRATION:
                        await jobs_schema.apply(conn)
                    await conn.execute(
                        "INSERT INTO syncer.schema_migrations (version) VALUES ($1)",
                        migration.version,
                    )
                log.info("migration.applied", version=migration.version)
                applied_now.append(migration.version)
        finally:
            await conn.execute(
                "SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended($1, 0))", _LOCK
            )
    except asyncpg.PostgresError as exc:
        raise errors.MirrorError(f"migration failed: {exc}") from exc
    finally:
        await conn.close()
    return applied_now
