"""Secrets and the database URL through the real `syncer` command: psql's argv, printed URLs,
malformed URLs, plain-HTTP base URLs, Actito's exchanged token."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web

from tests.commands import env, syncer, write_config
from tests.conftest import TOKEN_ENV, SandboxFactory
from tests.sandboxes import Serve

pytestmark = pytest.mark.acceptance

CANARY = "pw-canary-5e0b7d21"


def with_query(url: str, query: str) -> str:
    """`url` with `query` added after its own (the embedded server's URL names its socket
    directory in `host=`)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="&".join(q for q in (parts.query, query) if q)))


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{host}"))


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
async def test_psql_gets_the_password_in_its_environment_and_none_on_its_command_line(
    db_url: str, tmp_path: Path
) -> None:
    """A psql in front of the real one records what it was started with, then runs it."""
    record = tmp_path / "psql-started-with"
    fake = tmp_path / "bin" / "psql"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {record}\n'
        f'printf "PGPASSWORD=%s\\n" "$PGPASSWORD" >> {record}\n'
        f'exec {shutil.which("psql")} "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    environ = env(with_query(with_password(db_url, CANARY), f"password={CANARY}"))
    environ["PATH"] = f"{fake.parent}{os.pathsep}{environ['PATH']}"
    code, out, err = await syncer(
        "psql", environ=environ, stdin=b"select 'psql-' || 'reached-' || 42 as probe;\n"
    )
    assert code == 0, err
    assert "psql-reached-42" in out
    argv, _, password = record.read_text().rpartition("PGPASSWORD=")
    assert CANARY not in argv and "password" not in argv.lower()
    assert urlsplit(argv.strip()).path == urlsplit(db_url).path
    assert password.strip() == CANARY


@pytest.mark.parametrize(
    "query",
    [
        f"password={CANARY}",
        f"sslmode=disable&PASSWORD={CANARY}",
        f"password=first-guess&password={CANARY}",
        f"%70assword={CANARY}",
        f"password={CANARY.replace('-', '%2D')}",
    ],
)
async def test_db_url_prints_no_password_form(query: str) -> None:
    url = with_query(with_password("postgresql://alice@db.example.com:5432/mirror", CANARY), query)
    code, out, err = await syncer("db", "url", environ=env(url))
    assert code == 0, err
    assert out.strip() == "postgresql://alice@db.example.com:5432/mirror" + (
        "?sslmode=disable" if "sslmode" in query else ""
    )


async def test_the_closing_hint_of_a_sync_shows_no_password(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=50)
    database = with_query(with_password(db_url, CANARY), f"password={CANARY}")
    code, out, err = await syncer(
        "--log-level",
        "debug",
        "sync",
        "--config",
        str(write_config(tmp_path, url)),
        environ=env(database),
    )
    assert code == 0, err
    assert "psql 'postgresql://" in out and CANARY not in out + err


@pytest.mark.parametrize(
    "command",
    [
        ("sync", "--config", "{config}"),
        ("push", "--config", "{config}"),
        ("plan", "--config", "{config}"),
        ("status",),
        ("migrate",),
        ("psql",),
        ("db", "url"),
        ("outbox", "drop", "1"),
        ("grant-analyst", "analyst"),
    ],
)
async def test_a_malformed_database_url_is_one_line_and_exit_6(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    config = str(write_config(tmp_path, "http://127.0.0.1:1/data"))
    args = [a.replace("{config}", config) for a in command]
    bad = f"postgresql://u:{CANARY}@localhost:notaport/db"
    code, out, err = await syncer(*args, environ=env(bad))
    assert code == 6, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "SYNCER_DATABASE_URL" in lines[0], err
    assert "Traceback" not in err and CANARY not in out + err


async def test_plain_http_to_another_machine_exits_6_at_load(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, "http://vendor.example.com/data")
    code, _, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 6
    assert "connection 'exto'" in err and "use https://" in err


async def test_grant_analyst_refuses_a_role_it_cannot_make_read_only(
    db_url: str, db: asyncpg.Connection
) -> None:
    role = f"analyst_cli_{os.getpid()}"
    await db.execute(f'CREATE ROLE "{role}" CREATEDB')
    try:
        code, out, err = await syncer("grant-analyst", role, environ=env(db_url))
        assert code == 6
        assert "CREATEDB" in err and "nothing was changed" in err
        assert "read-only role" not in out
        assert not await db.fetchval("SELECT has_schema_privilege($1, 'mirror', 'USAGE')", role)
    finally:
        await db.execute(f'DROP OWNED BY "{role}"')
        await db.execute(f'DROP ROLE "{role}"')


TOKEN_CANARY = "exchanged-token-canary-c4f2a9"


def fake_actito() -> web.Application:
    """An Actito that sells TOKEN_CANARY and then quotes it back in its error bodies."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"accessToken": TOKEN_CANARY, "expiresIn": "900s"})

    async def refused(request: web.Request) -> web.Response:
        message = f"access token {request.headers.get('Authorization')} may not read this"
        return web.json_response(
            {"status": 400, "error": "Bad Request", "message": message}, status=400
        )

    async def failing(request: web.Request) -> web.Response:
        message = f"backend failed for {request.headers.get('Authorization')}"
        return web.json_response(
            {"status": 503, "error": "Service Unavailable", "message": message}, status=503
        )

    app = web.Application()
    app.router.add_get("/auth/token", token)
    app.router.add_get("/entities/v5/entities", refused)
    app.router.add_get("/v5/entities/sandbox/profile-tables/customers/profiles", failing)
    return app


async def test_actitos_exchanged_token_never_reaches_output_logs_or_tables(
    serve: Serve, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    port = await serve(fake_actito())
    config = tmp_path / "actito.toml"
    config.write_text(
        f"""
[[connections]]
name = "actito"
vendor = "actito"
base_url = "http://127.0.0.1:{port}"
token_env = "{TOKEN_ENV}"
rate_limit = 1000
max_attempts = 2
retry_timeout = 5
options = {{ entity = "sandbox" }}
streams = ["entities", "profiles:customers"]
"""
    )
    environ = env(db_url, "actito-api-key-canary")
    code, out, err = await syncer(
        "--log-level", "debug", "sync", "--config", str(config), environ=environ
    )
    assert code == 5, (out, err)
    assert "may not read this" in out + err  # the vendor's message is shown, the token is not
    assert TOKEN_CANARY not in out + err
    rows = await db.fetch("SELECT error, warnings FROM syncer.runs")
    assert len(rows) == 2 and all(r["error"] for r in rows)
    assert all("***" in r["error"] for r in rows)
    assert all(TOKEN_CANARY not in f"{r['error']} {r['warnings']}" for r in rows)
