"""A new user's first hour, through the CLI against the sandbox and a real Postgres: mistakes
of configuration say what to fix at once, an interrupted run says where it goes on, narrow
terminals cut nothing, and off a terminal every line is JSON."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.commands import env, spawn, syncer, until_checkpoint, write_config
from tests.conftest import TOKEN_ENV, SandboxFactory, with_database

pytestmark = pytest.mark.acceptance


async def test_a_stream_the_vendor_does_not_have_is_a_config_error(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=500)
    config = write_config(tmp_path, url, streams='["master:LOCATOIN", "master:LOCATION"]')
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 6, out + err
    assert "exto has no stream master:LOCATOIN (HTTP 404 on its first page" in out
    assert "check its name in the streams of connection 'exto'" in out
    assert "retry_scheduled" not in err
    # the mistyped stream leaves no table behind; its sibling landed
    assert await db.fetchval("SELECT to_regclass('mirror.exto__master_locatoin')") is None
    assert await db.fetchval("SELECT count(*) FROM mirror.exto__master_location") == 500
    # status keeps the whole message, advice included, even at 80 columns
    narrow = {**env(db_url), "COLUMNS": "80"}
    code, out, _ = await syncer("status", environ=narrow)
    assert code == 0 and "…" not in out
    assert "check its name in the streams of connection 'exto'" in " ".join(out.split())


async def test_check_names_every_missing_variable_and_psql_takes_arguments(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=100)
    config = write_config(tmp_path, url)
    config.write_text(
        config.read_text()
        + config.read_text()
        .replace('name = "exto"', 'name = "second"')
        .replace(TOKEN_ENV, "SYNCER_SECOND_TOKEN_X")
    )
    environ = env(db_url)
    del environ[TOKEN_ENV]
    environ.pop("SYNCER_SECOND_TOKEN_X", None)
    code, out, err = await syncer("check", "--config", str(config), environ=environ)
    assert code == 6, out + err
    assert f"not set: {TOKEN_ENV}, SYNCER_SECOND_TOKEN_X" in out
    code, out, err = await syncer("psql", "-At", "-c", "select 40 + 2", environ=env(db_url))
    assert code == 0 and out.strip() == "42", out + err


async def test_a_database_that_does_not_exist_is_a_config_error(db_url: str) -> None:
    code, out, err = await syncer("status", environ=env(with_database(db_url, "syncer_missing")))
    assert code == 6, out + err
    assert "does not exist; create it (createdb)" in err


async def test_incremental_says_which_streams_read_in_full_and_why(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    config = write_config(tmp_path, url, streams='["master:LOCATION", "groups"]')
    code, out, err = await syncer(
        "sync", "--config", str(config), "--mode", "incremental", environ=env(db_url)
    )
    assert code == 0, out + err
    assert "Read in full although incremental was asked (2):" in out
    assert "exto/master:LOCATION: no cursor yet: the first complete full pass sets it" in out
    # once the full pass set its cursor, master:LOCATION reads incrementally; groups cannot
    code, out, err = await syncer(
        "sync", "--config", str(config), "--mode", "incremental", environ=env(db_url)
    )
    assert code == 0, out + err
    assert "Read in full although incremental was asked (1):" in out
    assert "exto/groups: the vendor has no updated-since filter" in out


async def test_a_narrow_terminal_cuts_no_header_and_no_number(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=5_000)
    config = write_config(tmp_path, url, streams='["master:LOCATION", "module:INSPECTION"]')
    narrow = {**env(db_url), "COLUMNS": "80"}
    code, out, err = await syncer("sync", "--config", str(config), environ=narrow)
    assert code == 0, out + err
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "exto/master:LOCATION succeeded" in out and "5000 records" in out
    assert "5000 inserted" in out and "0 quarantined" in out
    code, out, err = await syncer("status", environ=narrow)
    assert code == 0, out + err
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    assert "exto/master:LOCATION succeeded" in out and "5000 inserted" in out


async def test_off_a_terminal_every_line_is_json_and_every_run_event_has_its_run(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=2_000)
    config = write_config(tmp_path, url, streams='["master:LOCATION", "users"]')
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 0, out + err
    events = [orjson.loads(line) for line in err.splitlines()]  # each line parses
    of_runs = [e for e in events if "stream" in e]
    assert {e["event"] for e in of_runs} >= {"run.started", "pass.finished", "run.finished"}
    assert all("run_id" in e for e in of_runs), [e for e in of_runs if "run_id" not in e]
    # a fatal error too: one JSON event with the exit code, no plain text
    environ = env(db_url)
    del environ[TOKEN_ENV]
    code, out, err = await syncer("sync", "--config", str(config), environ=environ)
    assert code == 6
    failed = [orjson.loads(line) for line in err.splitlines()]
    assert failed[-1]["event"] == "command.failed" and failed[-1]["exit_code"] == 6
    assert f"{TOKEN_ENV} is not set" in failed[-1]["error"]
    # and a usage mistake, before or after the command's name
    for args in (["sync", "--mode", "bogus"], ["nosuchcommand"]):
        code, out, err = await syncer(*args, environ=env(db_url))
        assert code == 2, out + err
        [event] = [orjson.loads(line) for line in err.splitlines()]
        assert event["event"] == "command.failed" and event["exit_code"] == 2


async def test_ctrl_c_exits_130_quietly_and_the_next_run_says_where_it_resumes(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=12_000, latency_ms=150)
    config = write_config(tmp_path, url, window=1)
    proc = await spawn(
        "--console-logs", "sync", "--config", str(config), environ=env(db_url), output=True
    )
    checkpoint = await until_checkpoint(db, 3)
    assert checkpoint >= 3
    # Ctrl-C reaches the whole foreground process group at once: syncer and its decoding
    # workers (one may be gone already when its turn comes: syncer shut its pool down)
    family = [proc.pid, *_children(proc.pid)]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 130, out.decode() + err.decode()
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    assert b"interrupted: the next run resumes" in err
    code, out_text, err_text = await syncer(
        "--console-logs", "sync", "--config", str(config), environ=env(db_url)
    )
    assert code == 0, out_text + err_text
    assert "exto/master:LOCATION: resuming pass 1 after page" in err_text
    assert "exto/master:LOCATION: resumed its pass at page" in out_text
    code, out_text, _ = await syncer("status", environ=env(db_url))
    assert code == 0 and "full (resumed after page" in out_text


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (the forkserver and its decoding workers)."""
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
                frontier.append(int(entry.name))
    return found
