"""`syncer grant-analyst ROLE`: a read-only role for analysts who query the mirror with SQL.

The role may read every mirror table and typed view, now and later (default privileges of the
role syncer writes as), and nothing else: no writes, no DDL in syncer's schemas, no access to
syncer's own bookkeeping (`syncer.*`: runs, checkpoints, the outbox and its payloads, the
quarantine). It is created NOLOGIN unless a password is given (from an environment variable):
grant it to people's own login roles (`GRANT analyst TO alice`).
"""

from __future__ import annotations

import re

import asyncpg

from syncer import errors, names
from syncer.mirror import translate_errors

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCHEMAS = ("mirror", "mirror_view")


async def grant_analyst(database_url: str, role: str, password: str | None = None) -> bool:
    """Create (if missing) and grant `role`; True when it was created."""
    if not _ROLE.match(role):
        raise errors.ConfigError(
            f"role name {role!r}: use lower-case letters, digits and _ (at most 63)"
        )
    quoted = names.quote(role)
    with translate_errors(f"granting read access to {role}"):
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                if not exists:
                    await conn.execute(f"CREATE ROLE {quoted} NOLOGIN")
                if password is not None:
                    # a literal: CREATE/ALTER ROLE take no parameters; quote_literal escapes it
                    literal = await conn.fetchval("SELECT quote_literal($1::text)", password)
                    await conn.execute(f"ALTER ROLE {quoted} LOGIN PASSWORD {literal}")
                database = await conn.fetchval("SELECT current_database()")
                await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {quoted}")
                await conn.execute(f"REVOKE ALL ON SCHEMA syncer FROM {quoted}")
                await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA syncer FROM {quoted}")
                for schema in SCHEMAS:
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                    await conn.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM {quoted}")
                    await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}")
                    await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {quoted}")
                    await conn.execute(
                        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                        f"GRANT SELECT ON TABLES TO {quoted}"
                    )
        finally:
            await conn.close()
    return not exists


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
