"""`syncer push` end to end: an endpoint the vendor refuses as a whole exits 6 and names it."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.acceptance.test_push_crash import active_user, enqueue, write_config
from tests.commands import env, syncer
from tests.conftest import SandboxFactory

pytestmark = pytest.mark.acceptance


async def test_an_unknown_master_exits_6_naming_it_and_the_rest_is_pushed(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox(master_records=20)
    config = write_config(tmp_path, url, active_user(sb))
    text = config.read_text().replace("options = {", 'options = { "unique:NOPE" = "serial_number",')
    config.write_text(text)
    await enqueue(db, "master:NOPE", "upsert", [{"serial_number": 1}])
    await enqueue(db, "master:LOCATION", "upsert", [{"serial_number": 9_001, "city": "Lyon"}])
    code, out, _ = await syncer("push", "--config", str(config), environ=env(db_url))
    assert code == 6
    assert "'master:NOPE'" in out and "superseded" in out
    states = await db.fetch("SELECT endpoint, state FROM syncer.outbox ORDER BY id")
    assert [(r["endpoint"], r["state"]) for r in states] == [
        ("master:NOPE", "pending"),
        ("master:LOCATION", "accepted"),
    ]


async def test_an_endpoint_missing_its_option_exits_6_and_sends_nothing(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A missing connection option is the configuration's fault, not the rows': exit 6 at once
    with what to add, and every claimed row stays pending."""
    url, sb = await sandbox(master_records=20)
    config = write_config(tmp_path, url, active_user(sb))
    await enqueue(db, "master:LOCATION", "upsert", [{"serial_number": 9_001, "city": "Lyon"}])
    await enqueue(db, "master:OTHER", "upsert", [{"serial_number": 1}])
    sb.reset_log()
    code, out, _ = await syncer("push", "--config", str(config), environ=env(db_url))
    assert code == 6 and "unique:OTHER" in out
    assert sb.request_log == []
    states = await db.fetch("SELECT state FROM syncer.outbox ORDER BY id")
    assert [r["state"] for r in states] == ["pending", "pending"]


async def test_plan_names_outbox_ids_rejections_are_logged_and_drop_refuses_unknown_ids(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox(master_records=20)
    config = write_config(tmp_path, url, active_user(sb))
    code, out, _ = await syncer("plan", "--config", str(config), environ=env(db_url))
    assert code == 0 and "nothing to send" in out
    # a good row, and one the vendor rejects (a text where Exto wants a number)
    await enqueue(
        db,
        "master:LOCATION",
        "upsert",
        [{"serial_number": 9_001, "city": "Lyon"}, {"serial_number": "not a number"}],
    )
    ids = [r["id"] for r in await db.fetch("SELECT id FROM syncer.outbox ORDER BY id")]
    code, out, _ = await syncer("plan", "--config", str(config), environ=env(db_url))
    assert code == 0 and f"{ids[0]}-{ids[1]}" in out and f"#{ids[0]} " in out
    code, out, err = await syncer("push", "--config", str(config), environ=env(db_url))
    rejected = await db.fetchrow("SELECT id, message FROM syncer.outbox WHERE state = 'rejected'")
    assert rejected is not None and rejected["id"] == ids[1], out + err
    logged = [line for line in err.splitlines() if "push.row_rejected" in line]
    assert len(logged) == 1 and f'"outbox_id": {ids[1]}' in logged[0]
    assert rejected["message"][:40] in logged[0]
    code, out, err = await syncer(
        "outbox", "drop", str(ids[1]), "999999", str(ids[0]), environ=env(db_url)
    )
    assert code == 2, out + err
    assert f"dropped 1 row(s): {ids[1]}" in out
    assert "999999: no such outbox row" in err and f"{ids[0]}: accepted" in err
