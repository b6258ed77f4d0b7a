"""History through the `syncer` command: a sync killed (SIGKILL) mid-pass and rerun records
each change once; the versions of the killed run's committed pages stay, its lost page's go."""

from __future__ import annotations

import signal
from pathlib import Path

import asyncpg
import pytest

from tests.commands import env, spawn, syncer, until_checkpoint
from tests.configs import exto_file
from tests.conftest import SandboxFactory
from tests.integration.history_check import HISTORY, Model, assert_history

pytestmark = pytest.mark.acceptance


async def test_sigkill_mid_pass_then_rerun_leaves_no_duplicate_version(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox(master_records=12_000, latency_ms=150)
    # history = true for the connection: every stream of it keeps one
    config = str(exto_file(tmp_path, url, window=1, history=True))
    code, _, err = await syncer("sync", "--config", config, environ=env(db_url))
    assert code == 0, err
    model = Model()
    model.saw(sb, 1)
    sb.generation(change_pct=20.0, delete_pct=1.0, insert_pct=1.0)  # changes on every page
    proc = await spawn("sync", "--config", config, environ=env(db_url))
    checkpoint = await until_checkpoint(db, 4)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert 4 <= checkpoint < 12
    killed = await db.fetchval("SELECT max(run_id) FROM syncer.runs")
    recorded = await db.fetchval(f"SELECT count(*) FROM {HISTORY} WHERE _run_id = $1", killed)
    assert recorded >= checkpoint * 150  # the committed pages' versions stay
    code, _, err = await syncer("sync", "--config", config, environ=env(db_url))
    assert code == 0, err
    rerun = await db.fetchval("SELECT max(run_id) FROM syncer.runs")
    model.saw(sb, rerun)
    await assert_history(db, model, same_run={killed: rerun})
    duplicates = await db.fetchval(
        f"SELECT count(*) FROM (SELECT _pk, _hash, _operation FROM {HISTORY} "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
    )
    assert duplicates == 0
