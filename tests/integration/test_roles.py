"""`grant-analyst` on real Postgres: a role is made read-only, or refused with nothing changed."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from syncer import errors, roles

pytestmark = pytest.mark.integration

TABLE = "mirror.exto__probe"


@pytest.fixture
async def mirror_table(db: asyncpg.Connection) -> str:
    await db.execute(f"CREATE TABLE {TABLE} (_pk text PRIMARY KEY, _data jsonb)")
    await db.execute(f"INSERT INTO {TABLE} VALUES ('a', '{{}}')")
    return TABLE


async def attempts(db: asyncpg.Connection, role: str) -> dict[str, bool]:
    """Statement -> whether `role` may run it (tried under SET ROLE, rolled back)."""
    statements = [
        f"SELECT count(*) FROM {TABLE}",
        f"INSERT INTO {TABLE} VALUES ('b', '{{}}')",
        f"UPDATE {TABLE} SET _data = '[]'",
        f"DELETE FROM {TABLE}",
        f"TRUNCATE {TABLE}",
        "CREATE TABLE mirror.made_by_analyst (x int)",
        "CREATE TABLE public.made_by_analyst (x int)",
        "CREATE SCHEMA made_by_analyst",
        "SELECT count(*) FROM syncer.runs",
        "SELECT nextval('syncer.pass_seq')",
    ]
    allowed = {}
    for sql in statements:
        tx = db.transaction()
        await tx.start()
        try:
            await db.execute(f'SET LOCAL ROLE "{role}"')
            await db.execute(sql)
            allowed[sql] = True
        except asyncpg.InsufficientPrivilegeError:
            allowed[sql] = False
        finally:
            await tx.rollback()
    return allowed


def only_reading(allowed: dict[str, bool]) -> bool:
    return allowed == {sql: sql.startswith(f"SELECT count(*) FROM {TABLE}") for sql in allowed}


async def test_a_new_role_reads_the_mirror_and_nothing_else(
    db_url: str, db: asyncpg.Connection, mirror_table: str, role_names: Callable[[str], str]
) -> None:
    role = role_names("analyst")
    assert await roles.grant_analyst(db_url, role) is True
    assert only_reading(await attempts(db, role))
    assert await roles.write_rights(db, role) == []
    await db.execute("CREATE TABLE mirror.exto__later (_pk text)")
    assert await db.fetchval("SELECT has_table_privilege($1, 'mirror.exto__later', 'SELECT')", role)


async def test_an_existing_role_loses_every_right_in_syncers_schemas(
    db_url: str, db: asyncpg.Connection, mirror_table: str, role_names: Callable[[str], str]
) -> None:
    role = role_names("writer")
    await db.execute(
        f'CREATE ROLE "{role}"; '
        f'GRANT INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {TABLE} TO "{role}"; '
        f'GRANT UPDATE (_data) ON {TABLE} TO "{role}"; '
        f'GRANT CREATE, USAGE ON SCHEMA mirror, mirror_view, syncer TO "{role}"; '
        f'GRANT SELECT, INSERT ON syncer.runs TO "{role}"; '
        f'GRANT USAGE, UPDATE ON SEQUENCE syncer.pass_seq TO "{role}"; '
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA mirror GRANT INSERT, DELETE ON TABLES TO "{role}"'
    )
    before = await attempts(db, role)
    assert before[f"INSERT INTO {TABLE} VALUES ('b', '{{}}')"] and not only_reading(before)
    assert await roles.grant_analyst(db_url, role) is False
    assert only_reading(await attempts(db, role))
    assert await roles.write_rights(db, role) == []
    await db.execute("CREATE TABLE mirror.exto__later (_pk text)")
    assert not await db.fetchval(
        "SELECT has_table_privilege($1, 'mirror.exto__later', 'INSERT')", role
    )


#: (what makes the role writable outside syncer's reach, what the refusal must say)
REFUSED = [
    ("ALTER ROLE {role} CREATEDB", "has the CREATEDB attribute"),
    ("ALTER ROLE {role} CREATEROLE", "has the CREATEROLE attribute"),
    ("ALTER ROLE {role} BYPASSRLS", "has the BYPASSRLS attribute"),
    ("ALTER ROLE {role} SUPERUSER", "has the SUPERUSER attribute"),
    (
        "CREATE ROLE {other}; GRANT INSERT ON public.elsewhere TO {other}; GRANT {other} TO {role}",
        "is a member of",
    ),
    (
        "CREATE ROLE {other} NOINHERIT; GRANT {other} TO {role}; "
        "GRANT CREATE ON SCHEMA public TO {other}",
        "which may CREATE in schema public",
    ),
    ("GRANT pg_write_all_data TO {role}", "pg_write_all_data"),
    ("ALTER TABLE public.elsewhere OWNER TO {role}", "owns table public.elsewhere"),
    ("GRANT UPDATE (x) ON public.elsewhere TO {role}", "may UPDATE on public.elsewhere"),
    ("GRANT TRUNCATE ON public.elsewhere TO PUBLIC", "every role may TRUNCATE"),
    ("GRANT CREATE ON DATABASE {database} TO {role}", "may CREATE schemas in database"),
    ("GRANT CREATE ON SCHEMA public TO PUBLIC", "every role may CREATE in schema public"),
    ("CREATE SEQUENCE public.counter; GRANT USAGE ON public.counter TO {role}", "sequence"),
    (
        "CREATE FUNCTION public.wipe() RETURNS void SECURITY DEFINER LANGUAGE sql "
        "AS 'DELETE FROM public.elsewhere'",
        "SECURITY DEFINER",
    ),
    (
        "CREATE ROLE {other}; ALTER DEFAULT PRIVILEGES FOR ROLE {other} IN SCHEMA public "
        "GRANT INSERT ON TABLES TO {role}",
        "gets INSERT on every new table",
    ),
]


@pytest.mark.parametrize(("setup", "reason"), REFUSED)
async def test_a_role_syncer_cannot_make_read_only_is_refused_and_left_as_it_was(
    db_url: str,
    db: asyncpg.Connection,
    mirror_table: str,
    role_names: Callable[[str], str],
    setup: str,
    reason: str,
) -> None:
    role, other = role_names("analyst"), role_names("other")
    database = await db.fetchval("SELECT quote_ident(current_database())")
    await db.execute("CREATE TABLE public.elsewhere (x int)")
    await db.execute(f'CREATE ROLE "{role}"; GRANT INSERT ON {TABLE} TO "{role}"')
    await db.execute(setup.format(role=f'"{role}"', other=f'"{other}"', database=database))
    with pytest.raises(errors.ConfigError) as refused:
        await roles.grant_analyst(db_url, role)
    message = refused.value.message
    assert reason in message and "nothing was changed" in message and "fix:" in message
    assert refused.value.exit_code == 6
    # one transaction: the grant syncer would have revoked is still there
    assert await db.fetchval(f"SELECT has_table_privilege($1, '{TABLE}', 'INSERT')", role)


async def test_a_new_role_is_refused_where_every_role_may_write(
    db_url: str, db: asyncpg.Connection, role_names: Callable[[str], str]
) -> None:
    """Postgres 14 and older let every role create in public: no new role is read-only there."""
    role = role_names("analyst")
    await db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    with pytest.raises(errors.ConfigError, match="REVOKE CREATE ON SCHEMA public FROM PUBLIC"):
        await roles.grant_analyst(db_url, role)
    assert not await db.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
