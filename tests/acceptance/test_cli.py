"""The syncer command end to end: a subprocess against the sandbox and a real Postgres."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog

from tests.commands import env, spawn, syncer, until_checkpoint, write_config
from tests.conftest import TOKEN_ENV, SandboxFactory
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.acceptance

TABLE = "exto__master_location"


async def test_sync_twice_then_status(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """First run inserts everything; the second reports 0 inserted and 0 updated."""
    url, sb = await sandbox()
    config = write_config(tmp_path, url)
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 0, err
    assert "sync summary" in out and "succeeded" in out and "syncer psql" in out
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), "master:LOCATION")
    code, out, _ = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 0
    row = await db.fetchrow(
        "SELECT inserted, updated, unchanged FROM syncer.runs ORDER BY run_id DESC LIMIT 1"
    )
    assert (row["inserted"], row["updated"], row["unchanged"]) == (0, 0, 3000)
    code, out, _ = await syncer("status", environ=env(db_url))
    assert code == 0 and out.count("succeeded") == 2


async def test_sigkill_after_page_k_then_rerun_ends_equal(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """SIGKILL after page k, then a rerun: resumed from the checkpoint, nothing lost or doubled."""
    url, sb = await sandbox(master_records=12_000, latency_ms=150)
    config = write_config(tmp_path, url, window=1)
    proc = await spawn("sync", "--config", str(config), environ=env(db_url))
    checkpoint = await until_checkpoint(db, 4)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert 4 <= checkpoint < 12
    merged = await db.fetchval(f'SELECT count(*) FROM mirror."{TABLE}"')
    assert merged >= checkpoint * 1000
    sb.reset_log()
    code, _, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 0, err
    first_page = min(int(e.query["page"]) for e in sb.request_log if "page" in e.query)
    assert first_page > checkpoint - 1  # resumed, not restarted
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), "master:LOCATION")
    assert await db.fetchval(f'SELECT count(*) FROM mirror."{TABLE}"') == 12_000
    statuses = [
        r["status"] for r in await db.fetch("SELECT status FROM syncer.runs ORDER BY run_id")
    ]
    assert statuses == ["abandoned", "succeeded"]


async def test_bad_token_exits_6_without_printing_it(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, _ = await sandbox()
    config = write_config(tmp_path, url)
    secret = "not-the-token-4242"
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url, secret))
    assert code == 6
    assert secret not in out + err and "refused the credential" in out
    code, out, err = await syncer("check", "--config", str(config), environ=env(db_url, secret))
    assert code == 6 and secret not in out + err
    leaks = await db.fetchval(
        "SELECT count(*) FROM syncer.runs WHERE error LIKE '%' || $1 || '%'", secret
    )
    assert leaks == 0


async def test_a_vendor_that_never_answered_is_a_config_error_at_once(
    db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Connection refused before the host ever answered: exit 6 naming base_url, one
    request, no retry (a host lost after it answered is retried: test_http_reach)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    config = write_config(tmp_path, f"http://127.0.0.1:{port}/data")
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 6, out + err
    assert f"cannot reach http://127.0.0.1:{port}/data" in out and "check its base_url" in out
    assert "connection refused" in out and "retry_scheduled" not in err
    assert "Open the mirror" not in out  # nothing landed to look at
    run = await db.fetchrow("SELECT status, retries, requests FROM syncer.runs")
    assert run["status"] == "failed" and run["requests"] == 1 and run["retries"] == 0
    # nothing left for an analyst to trip over
    assert await db.fetchval("SELECT to_regclass('mirror.exto__master_location')") is None


async def test_missing_token_variable_is_a_config_error(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox()
    environ = env(db_url)
    del environ[TOKEN_ENV]
    code, _, err = await syncer(
        "sync", "--config", str(write_config(tmp_path, url)), environ=environ
    )
    assert code == 6 and TOKEN_ENV in err


async def test_already_running_exits_4_at_once(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """While another session holds the stream's lock, a run exits with code 4."""
    url, sb = await sandbox()
    config = write_config(tmp_path, url)
    await db.execute(
        "SELECT pg_advisory_lock(hashtextextended('syncer.stream:exto/master:LOCATION', 0))"
    )
    code, out, _ = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 4 and "already" in out
    assert sb.request_log == []


async def test_check_reports_ready_and_token_accepted(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox()
    code, out, _ = await syncer(
        "check", "--config", str(write_config(tmp_path, url)), environ=env(db_url)
    )
    assert code == 0 and "token accepted" in out and "ready" in out


COMMANDS = [
    [c]
    for c in [
        "sync",
        "status",
        "health",
        "migrate",
        "check",
        "sandbox",
        "psql",
        "plan",
        "push",
        "backfill",
        "worker",
        "grant-analyst",
    ]
] + [
    ["outbox"],
    ["outbox", "drop"],
    ["db"],
    ["db", "url"],
    ["db", "init"],
    ["db", "stop"],
    ["state"],
    ["state", "show"],
    ["state", "reset"],
    ["deletes"],
    ["deletes", "show"],
    ["jobs"],
    ["jobs", "retry"],
    ["jobs", "cancel"],
]


@pytest.fixture
def own_logging() -> Iterator[None]:
    """The CLI configures logging on the runner's streams, which close after it: put the
    suite's configuration back."""
    saved = structlog.get_config()
    handlers = logging.getLogger().handlers[:]
    yield
    structlog.configure(**saved)
    logging.getLogger().handlers = handlers


@pytest.mark.usefixtures("own_logging")
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_explains_with_an_example_and_no_type_boxes(command: list[str]) -> None:
    from typer.testing import CliRunner

    from syncer.cli.commands import app

    result = CliRunner().invoke(app, [*command, "-h"], env={"COLUMNS": "80"})
    assert result.exit_code == 0 and "Example:" in result.output, result.output
    assert "<bool>" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.usefixtures("own_logging")
def test_version_and_the_commands_in_sections() -> None:
    from typer.testing import CliRunner

    from syncer.cli.commands import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("syncer ")
    listing = CliRunner().invoke(app, ["-h"], env={"COLUMNS": "80"}).output
    assert "Example:" in listing
    sections = [line for line in listing.splitlines() if line and not line.startswith(" ")]
    assert sections[-5:] == ["Start:", "Pull:", "Push:", "Operate:", "Set up:"]
    assert "..." not in listing.split("Commands", 1)[-1].split("Start:", 1)[-1]
