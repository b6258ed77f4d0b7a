"""`syncer grant-analyst ROLE`: a read-only role for analysts who query the mirror with SQL.

The role may read every mirror table and typed view, the freshness and history views
(`mirror_meta`) and the history tables (`mirror_history`), now and later (default privileges of
the role syncer writes as), and nothing else: no writes, no DDL, no access to syncer's own
bookkeeping (`syncer.*`: runs, checkpoints, the outbox and its payloads, the quarantine). It is
created NOLOGIN unless a password is given (from an environment variable): grant it to people's
own login roles (`GRANT analyst TO alice`).

An existing role is made read-only or refused, in one transaction (a refusal changes nothing):
- in syncer's schemas (`syncer`, `mirror`, `mirror_view`, `mirror_meta`, `mirror_history`)
  syncer revokes every right but reading the last four: table and column grants, sequences,
  CREATE, default privileges syncer's role gave;
- anything else that lets the role write is the database owner's to change, never syncer's:
  attributes (SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS, REPLICATION), membership in a role
  that may write, ownership of objects, write grants elsewhere, CREATE on the database or on
  another schema, SECURITY DEFINER functions it may run, default privileges of other roles.
  Those refuse the command (exit 6) with each reason and the statement that removes it.
Whether the role is read-only is decided at the end by probing Postgres itself
(has_*_privilege for the role and every role it may act as), never by what syncer granted.
"""

from __future__ import annotations

import re
from collections import defaultdict

import asyncpg

from syncer import errors, names
from syncer.mirror import connect_one, translate_errors

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: the schemas the analyst role reads: the mirror tables, their typed views, freshness and run
#: history (mirror_meta), and the history of streams that keep one (mirror_history)
SCHEMAS = ("mirror", "mirror_view", "mirror_meta", "mirror_history")
#: every schema syncer owns: rights in them are syncer's to revoke
OWN_SCHEMAS = ("syncer", *SCHEMAS)
#: predefined roles that write outside any table's privileges
_WRITING_ROLES = ("pg_write_all_data", "pg_write_server_files", "pg_execute_server_program")
#: how many reasons a refusal lists
_SHOWN = 12

#: $1 role name -> (the role it holds through, what it may do, the statement that removes it)
#: for the role and every role it may act as (a member can SET ROLE, or inherits).
_WRITE_RIGHTS = """
WITH actors AS (
    SELECT r.oid, r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
           r.rolreplication
    FROM pg_catalog.pg_roles r
    WHERE pg_catalog.pg_has_role($1::name, r.oid, 'MEMBER')
), here AS (
    SELECT oid, datname, COALESCE(datacl, pg_catalog.acldefault('d', datdba)) AS acl
    FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()
), relations AS (
    SELECT c.oid, c.relkind, c.relowner, c.oid::pg_catalog.regclass::text AS name,
           COALESCE(c.relacl, pg_catalog.acldefault(
               CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS acl
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm', 'S')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
), rights AS (
    -- a write right an actor holds on an object it does not own (ownership is its own
    -- reason); `public`: the right is granted to PUBLIC, so it is there to revoke
    SELECT a.oid AS actor, a.rolname, 'may ' || p.privilege || ' on ' || r.name AS what,
           'REVOKE ' || p.privilege || ' ON ' || r.name AS revoke,
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(r.acl) g
                   WHERE g.grantee = 0 AND g.privilege_type = p.privilege) AS public
    FROM actors a, relations r,
         (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER'))
             AS p(privilege)
    WHERE r.relkind <> 'S' AND r.relowner <> a.oid
      AND CASE WHEN p.privilege IN ('INSERT', 'UPDATE', 'REFERENCES')
               THEN pg_catalog.has_any_column_privilege(a.oid, r.oid, p.privilege)
               ELSE pg_catalog.has_table_privilege(a.oid, r.oid, p.privilege) END
    UNION ALL
    SELECT a.oid, a.rolname, 'may ' || p.privilege || ' sequence ' || r.name,
           'REVOKE ' || p.privilege || ' ON SEQUENCE ' || r.name,
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(r.acl) g
                   WHERE g.grantee = 0 AND g.privilege_type = p.privilege)
    FROM actors a, relations r, (VALUES ('USAGE'), ('UPDATE')) AS p(privilege)
    WHERE r.relkind = 'S' AND r.relowner <> a.oid
      AND pg_catalog.has_sequence_privilege(a.oid, r.oid, p.privilege)
    UNION ALL
    SELECT a.oid, a.rolname, 'may CREATE in schema ' || pg_catalog.quote_ident(n.nspname),
           'REVOKE CREATE ON SCHEMA ' || pg_catalog.quote_ident(n.nspname),
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(
                       COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) g
                   WHERE g.grantee = 0 AND g.privilege_type = 'CREATE')
    FROM actors a, pg_catalog.pg_namespace n
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND n.nspowner <> a.oid AND pg_catalog.has_schema_privilege(a.oid, n.oid, 'CREATE')
    UNION ALL
    SELECT a.oid, a.rolname, 'may CREATE schemas in database ' || pg_catalog.quote_ident(h.datname),
           'REVOKE CREATE ON DATABASE ' || pg_catalog.quote_ident(h.datname),
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(h.acl) g
                   WHERE g.grantee = 0 AND g.privilege_type = 'CREATE')
    FROM actors a, here h
    WHERE pg_catalog.has_database_privilege(a.oid, h.oid, 'CREATE')
    UNION ALL
    SELECT a.oid, a.rolname, 'may run ' || f.oid::pg_catalog.regprocedure::text
               || ', a SECURITY DEFINER function (it runs as its owner)',
           'REVOKE EXECUTE ON FUNCTION ' || f.oid::pg_catalog.regprocedure::text,
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(
                       COALESCE(f.proacl, pg_catalog.acldefault('f', f.proowner))) g
                   WHERE g.grantee = 0 AND g.privilege_type = 'EXECUTE')
    FROM actors a, pg_catalog.pg_proc f
    JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
    WHERE f.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND f.proowner <> a.oid AND pg_catalog.has_function_privilege(a.oid, f.oid, 'EXECUTE')
)
SELECT a.rolname AS holder, 'has the ' || x.attr || ' attribute' AS what,
       'ALTER ROLE ' || pg_catalog.quote_ident(a.rolname) || ' NO' || x.attr AS fix
FROM actors a,
     LATERAL (VALUES ('SUPERUSER', a.rolsuper), ('CREATEROLE', a.rolcreaterole),
                     ('CREATEDB', a.rolcreatedb), ('BYPASSRLS', a.rolbypassrls),
                     ('REPLICATION', a.rolreplication)) AS x(attr, held)
WHERE x.held
UNION ALL
SELECT a.rolname, 'is a predefined role that writes', NULL
FROM actors a WHERE a.rolname = ANY($2::text[])
UNION ALL
SELECT a.rolname,
       'owns ' || COALESCE(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid),
                           'an object'),
       'REASSIGN OWNED BY ' || pg_catalog.quote_ident(a.rolname) || ' TO <another role>'
FROM actors a
JOIN pg_catalog.pg_shdepend d
  ON d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND d.refobjid = a.oid
 AND d.deptype = 'o'
WHERE d.dbid = 0 OR d.dbid = (SELECT oid FROM here)
UNION ALL
SELECT CASE WHEN r.public THEN 'PUBLIC' ELSE r.rolname END, r.what,
       r.revoke || ' FROM ' || CASE WHEN r.public THEN 'PUBLIC'
                                    ELSE pg_catalog.quote_ident(r.rolname) END
FROM rights r
UNION ALL
SELECT COALESCE(a.rolname, 'PUBLIC'),
       'gets ' || g.privilege_type || ' on every new '
           || CASE d.defaclobjtype WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence'
                                   ELSE 'schema' END
           || ' that ' || pg_catalog.quote_ident(o.rolname) || ' creates'
           || COALESCE(' in schema ' || pg_catalog.quote_ident(n.nspname), ''),
       'ALTER DEFAULT PRIVILEGES FOR ROLE ' || pg_catalog.quote_ident(o.rolname)
           || COALESCE(' IN SCHEMA ' || pg_catalog.quote_ident(n.nspname), '') || ' REVOKE '
           || g.privilege_type || ' ON '
           || CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
                                   ELSE 'SCHEMAS' END
           || ' FROM ' || COALESCE(pg_catalog.quote_ident(a.rolname), 'PUBLIC')
FROM pg_catalog.pg_default_acl d
CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) AS g
JOIN pg_catalog.pg_roles o ON o.oid = d.defaclrole
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
LEFT JOIN actors a ON a.oid = g.grantee
WHERE (a.oid IS NOT NULL OR g.grantee = 0)
  AND ((d.defaclobjtype = 'r' AND g.privilege_type <> 'SELECT')
       OR (d.defaclobjtype = 'S' AND g.privilege_type IN ('USAGE', 'UPDATE'))
       OR (d.defaclobjtype = 'n' AND g.privilege_type = 'CREATE'))
"""


async def grant_analyst(database_url: str, role: str, password: str | None = None) -> bool:
    """Create (if missing) or make read-only `role`; True when it was created.

    Raises ConfigError, changing nothing, when the role would still be able to write."""
    if not _ROLE.match(role):
        raise errors.ConfigError(
            f"role name {role!r}: use lower-case letters, digits and _ (at most 63)"
        )
    quoted = names.quote(role)
    with translate_errors(f"granting read access to {role}"):
        conn = await connect_one(database_url)
        try:
            async with conn.transaction():
                exists = await conn.fetchval(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", role
                )
                if not exists:
                    await conn.execute(f"CREATE ROLE {quoted} NOLOGIN")
                if password is not None:
                    # a literal: CREATE/ALTER ROLE take no parameters; the server quotes it
                    literal = await conn.fetchval(
                        "SELECT pg_catalog.quote_literal($1::text)", password
                    )
                    await conn.execute(f"ALTER ROLE {quoted} LOGIN PASSWORD {literal}")
                await _grant(conn, quoted)
                refusals = await write_rights(conn, role)
                if refusals:
                    raise errors.ConfigError(_refusal(role, refusals))
        finally:
            await conn.close()
    return not exists


async def _grant(conn: asyncpg.Connection, quoted: str) -> None:
    """Take back every right in syncer's schemas, then give reading the mirror."""
    database = await conn.fetchval("SELECT pg_catalog.quote_ident(pg_catalog.current_database())")
    await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {quoted}")
    for schema in SCHEMAS:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    own = ", ".join(OWN_SCHEMAS)
    for statement in (
        f"REVOKE ALL ON SCHEMA {own} FROM {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {own} FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {own} FROM {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {own} REVOKE ALL ON TABLES FROM {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {own} REVOKE ALL ON SEQUENCES FROM {quoted}",
    ):
        await conn.execute(statement)
    readable = ", ".join(SCHEMAS)
    await conn.execute(f"GRANT USAGE ON SCHEMA {readable} TO {quoted}")
    await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {readable} TO {quoted}")
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {readable} GRANT SELECT ON TABLES TO {quoted}"
    )


async def write_rights(conn: asyncpg.Connection, role: str) -> list[tuple[str, str, str | None]]:
    """Every way `role` may still write in this database: (the role it holds it through,
    what it may do, the statement that removes it). Empty: the role is read-only."""
    rows = await conn.fetch(_WRITE_RIGHTS, role, list(_WRITING_ROLES))
    return sorted({(r["holder"], r["what"], r["fix"]) for r in rows})


def _refusal(role: str, rights: list[tuple[str, str, str | None]]) -> str:
    """One line: why `role` cannot be made read-only, and what would fix it."""
    by_holder: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for holder, what, fix in rights:
        by_holder[holder].append((what, fix))
    # what the role inherits from a role it is a member of is that membership's consequence
    inherited = {what for holder, what, _ in rights if holder not in (role, "PUBLIC")}
    reasons: list[str] = []
    # the role's own attributes first: a superuser may act as every role, so all the rest
    # follows from them (and must never be folded away as "inherited")
    own = sorted(by_holder.pop(role, []), key=lambda item: not item[0].startswith("has the "))
    for what, fix in own:
        if what.startswith("has the ") or what not in inherited:
            reasons.append(f"it {what}" + (f" (fix: {fix})" if fix else ""))
    for what, fix in by_holder.pop("PUBLIC", []):
        reasons.append(f"every role {what}" + (f" (fix: {fix})" if fix else ""))
    for holder, items in sorted(by_holder.items()):
        reasons.append(
            f"it is a member of {holder}, which {items[0][0]} "
            f"(fix: REVOKE {_ident(holder)} FROM {names.quote(role)})"
        )
    shown = reasons[:_SHOWN]
    more = f"; and {len(reasons) - _SHOWN} more" if len(reasons) > _SHOWN else ""
    return (
        f"role {role} cannot be made read-only, so nothing was changed: "
        + "; ".join(shown)
        + more
        + ". syncer changes rights only in its own schemas ("
        + ", ".join(OWN_SCHEMAS)
        + "); "
        "fix these, or choose a new role name, then run grant-analyst again"
    )


def _ident(name: str) -> str:
    """A role name as SQL shows it (only for the hint in a refusal; never executed)."""
    return name if _ROLE.match(name) else '"' + name.replace('"', '""') + '"'
