"""`syncer sync` against a lying vendor, `syncer state` and `syncer deletes`, end to end: the
command in a subprocess, the sandbox over HTTP, a real Postgres."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.commands import env, syncer, write_config
from tests.conftest import SandboxFactory
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.acceptance

TABLE = "exto__master_location"


async def test_an_incomplete_pass_exits_3_and_status_says_why(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox()
    config = str(write_config(tmp_path, url))
    code, _, err = await syncer("sync", "--config", config, environ=env(db_url))
    assert code == 0, err
    sb.config.apply({"empty_pages": [2]})
    code, out, _ = await syncer("sync", "--config", config, environ=env(db_url))
    assert code == 3 and "incomplete" in out
    assert (
        await db.fetchval(f'SELECT count(*) FROM mirror."{TABLE}" WHERE _deleted_at IS NULL')
        == 3000
    )
    code, out, _ = await syncer("status", environ=env(db_url))
    assert code == 0 and "incomplete" in out
    assert "page 2 held 0 records where the vendor's total of 3000 means 1000" in out


async def test_held_deletes_are_listed_then_confirmed(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox()
    config = str(write_config(tmp_path, url))
    assert (await syncer("sync", "--config", config, environ=env(db_url)))[0] == 0
    sb.generation(change_pct=0, delete_pct=30, insert_pct=0)
    code, _, _ = await syncer("sync", "--config", config, environ=env(db_url))
    assert code == 3
    code, out, _ = await syncer("deletes", "show", environ=env(db_url))
    assert code == 0 and "exto/master:LOCATION" in out and "900" in out
    code, out, _ = await syncer("deletes", "confirm", "exto/master:LOCATION", environ=env(db_url))
    assert code == 0 and "900 rows marked deleted" in out
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), "master:LOCATION")
    code, out, err = await syncer("deletes", "confirm", "nope", environ=env(db_url))
    assert code == 6 and "no stream 'nope'" in err


async def test_state_shows_and_resets_a_cursor(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, _ = await sandbox()
    config = str(write_config(tmp_path, url))
    assert (await syncer("sync", "--config", config, environ=env(db_url)))[0] == 0
    code, out, _ = await syncer("state", "show", environ=env(db_url))
    assert code == 0 and "exto/master:LOCATION" in out and "2025-06-30" in out
    code, out, _ = await syncer(
        "state", "reset", "master:LOCATION", "--cursor", "2025-01-02", environ=env(db_url)
    )
    assert code == 0 and "-> 2025-01-02 00:00:00" in out
    assert str(await db.fetchval("SELECT cursor::date FROM syncer.stream_state")) == "2025-01-02"
    code, out, _ = await syncer(
        "state", "reset", "master:LOCATION", "--no-cursor", "--drop-pass", environ=env(db_url)
    )
    assert code == 0 and "-> none" in out and "no pass was in progress" in out
    assert await db.fetchval("SELECT cursor FROM syncer.stream_state") is None
    code, _, err = await syncer(
        "state",
        "reset",
        "master:LOCATION",
        "--cursor",
        "2025-01-02",
        "--no-cursor",
        environ=env(db_url),
    )
    assert code == 2 and "exclude each other" in err
