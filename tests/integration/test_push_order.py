"""A key's outbox rows reach Exto in outbox order, across operations and pushes; a rejected row
that a later accepted row of its key supersedes is never sent again; a desired-state table
keeps one outstanding row per key. Sandbox over HTTP, real Postgres."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncer import engine, push
from syncer.sandbox.exto.state import ExtoSandbox
from tests import outbox as outbox_rows
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

RECORDS = "/data/api/v1/master-record/LOCATION"


def config(sb: ExtoSandbox, url: str, **kw: Any) -> Any:
    user = next(u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1)
    options = {"unique:LOCATION": "serial_number", "user_name": user}
    return exto_config(url, options=options, **kw)


async def enqueue(db: asyncpg.Connection, rows: list[tuple[str, dict[str, Any]]]) -> None:
    await outbox_rows.insert(db, [("exto", "master:LOCATION", op, payload) for op, payload in rows])


async def outbox(db: asyncpg.Connection) -> list[tuple[str, int | None]]:
    rows = await db.fetch("SELECT state, superseded_by FROM syncer.outbox ORDER BY id")
    return [(r["state"], r["superseded_by"]) for r in rows]


def writes(sb: ExtoSandbox) -> list[str]:
    return [e.method for e in sb.request_log if e.path == RECORDS and e.method != "GET"]


def record(sb: ExtoSandbox, serial: int) -> dict[str, Any]:
    [found] = [
        r
        for r in sb.records("master")
        if r["customFields"].get("serial_number") == serial and not r["isDeleted"]
    ]
    return found


@pytest.mark.parametrize("pulled", [True, False], ids=["mirror-knows-the-record", "no-mirror"])
async def test_upsert_update_upsert_of_one_record_land_in_outbox_order(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, pulled: bool
) -> None:
    """Upsert (city B), update by refId (city A), upsert (city C): POST, PATCH, POST, and the
    vendor ends with C. Without a mirror syncer cannot tell that the refId and the serial are
    one record, so it orders them as one key all the same."""
    url, sb = await sandbox(master_records=50)
    cfg = config(sb, url)
    if pulled:
        await engine.sync(cfg, db_url)
    target = sb.records("master")[7]
    serial, ref = target["customFields"]["serial_number"], target["refId"]
    await enqueue(
        db,
        [
            ("upsert", {"serial_number": serial, "city": "B"}),
            ("update", {"refId": ref, "city": "A"}),
            ("upsert", {"serial_number": serial, "city": "C"}),
        ],
    )
    sb.reset_log()
    [result] = await push.push(cfg, db_url)
    assert (result.accepted, result.rejected) == (3, 0)
    assert writes(sb) == ["POST", "PATCH", "POST"]
    assert record(sb, serial)["customFields"]["city"] == "C"
    city = await db.fetchval(
        "SELECT _data->'customFields'->>'city' FROM mirror.exto__master_location "
        "WHERE _data->>'refId' = $1",
        ref,
    )
    assert city == "C"


async def test_rows_of_different_records_still_share_one_chunk(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Ordering costs requests only where a key repeats: 300 upserts of 300 records and one
    second upsert of the first record take two POSTs."""
    url, sb = await sandbox(master_records=10)
    rows = [("upsert", {"serial_number": 5_000 + i, "city": "Lyon"}) for i in range(300)]
    await enqueue(db, [*rows, ("upsert", {"serial_number": 5_000, "city": "Nice"})])
    sb.reset_log()
    [result] = await push.push(config(sb, url), db_url)
    assert result.accepted == 301
    assert writes(sb) == ["POST", "POST"]
    assert record(sb, 5_000)["customFields"]["city"] == "Nice"


async def test_an_upsert_accepted_after_a_rejected_delete_supersedes_it_for_good(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The delete is refused (no delete right), the later upsert of the same record lands: the
    delete is superseded, and once deletes would succeed the next push does not send it."""
    url, sb = await sandbox(master_records=30)
    cfg = config(sb, url)
    await engine.sync(cfg, db_url)
    target = sb.records("master")[3]
    serial = target["customFields"]["serial_number"]
    sb.config.users_without_delete = tuple(cfg.connections[0].options["user_name"].split())
    await enqueue(
        db,
        [
            ("delete", {"refId": target["refId"]}),
            ("upsert", {"serial_number": serial, "city": "Kept"}),
        ],
    )
    [first] = await push.push(cfg, db_url)
    assert (first.accepted, first.rejected, first.superseded) == (1, 0, 1)
    assert await outbox(db) == [("superseded", 2), ("accepted", None)]
    assert first.exit_code == 0
    sb.config.users_without_delete = ()
    sb.reset_log()
    [second] = await push.push(cfg, db_url)
    assert (second.accepted, second.requests) == (0, 0)
    assert sb.request_log == []
    kept = record(sb, serial)
    assert kept["refId"] == target["refId"] and kept["customFields"]["city"] == "Kept"


async def test_a_rejected_row_is_retried_before_the_later_rows_of_its_key(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Push 1: the update of a record is rejected and nothing later of its key is queued; a
    row of another record is accepted and supersedes nothing. Push 2 (the key accepted again,
    a later upsert queued): the update goes first, then the upsert: the vendor ends with the
    upsert's value."""
    url, sb = await sandbox(master_records=30)
    cfg = config(sb, url)
    await engine.sync(cfg, db_url)
    target, other = sb.records("master")[4:6]
    serial = target["customFields"]["serial_number"]
    sb.config.reject_keys = (target["refId"],)
    await enqueue(
        db,
        [
            ("update", {"refId": target["refId"], "city": "First"}),
            ("upsert", {"serial_number": other["customFields"]["serial_number"], "city": "Z"}),
        ],
    )
    [first] = await push.push(cfg, db_url)
    assert (first.accepted, first.rejected, first.superseded, first.exit_code) == (1, 1, 0, 3)
    assert await outbox(db) == [("rejected", None), ("accepted", None)]
    sb.config.reject_keys = ()
    await enqueue(db, [("upsert", {"serial_number": serial, "city": "Second"})])
    sb.reset_log()
    [second] = await push.push(cfg, db_url)
    assert (second.accepted, second.rejected) == (2, 0)
    assert writes(sb) == ["PATCH", "POST"]
    assert record(sb, serial)["customFields"]["city"] == "Second"


async def test_a_rejected_update_superseded_by_a_later_upsert_is_never_sent_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The update (by refId) fails, the upsert of the same record (by serial) lands: the
    update is superseded, and the next push, with the key no longer refused, sends nothing."""
    url, sb = await sandbox(master_records=30)
    cfg = config(sb, url)
    await engine.sync(cfg, db_url)
    target = sb.records("master")[2]
    serial = target["customFields"]["serial_number"]
    sb.config.reject_keys = (target["refId"],)
    await enqueue(
        db,
        [
            ("update", {"refId": target["refId"], "city": "Old"}),
            ("upsert", {"serial_number": serial, "city": "New"}),
        ],
    )
    [result] = await push.push(cfg, db_url)
    assert (result.accepted, result.rejected, result.superseded) == (1, 0, 1)
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE id = 1")
    assert message == "superseded by outbox row 2, accepted later for the same key"
    sb.config.reject_keys = ()
    sb.reset_log()
    [again] = await push.push(cfg, db_url)
    assert again.requests == 0 and writes(sb) == []
    assert record(sb, serial)["customFields"]["city"] == "New"


async def wanted_city(
    sb: ExtoSandbox, url: str, db: asyncpg.Connection, db_url: str
) -> tuple[Any, dict[str, Any]]:
    """A config whose desired-state table asks the city 'Wanted' for one record a first sync
    mirrored, and that record; the sandbox rejects writes to it (`reject_keys`)."""
    desired = [
        {
            "table": "analytics.desired_locations",
            "endpoint": "master:LOCATION",
            "key": "serial_number",
            "fields": ["city"],
        }
    ]
    cfg = config(sb, url, desired=desired)
    await engine.sync(cfg, db_url)
    target = sb.records("master")[1]
    serial = target["customFields"]["serial_number"]
    await db.execute("CREATE SCHEMA analytics")
    await db.execute(
        "CREATE TABLE analytics.desired_locations AS SELECT $1::int AS serial_number, "
        "'Wanted'::text AS city",
        serial,
    )
    sb.config.reject_keys = (str(serial),)
    return cfg, target


async def test_a_desired_state_table_keeps_one_outstanding_row_per_key(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A desired row the vendor rejects, diffed by three pushes: one outstanding row (the
    newest), the two before it superseded; each push sends the key once."""
    url, sb = await sandbox(master_records=20)
    cfg, target = await wanted_city(sb, url, db, db_url)
    serial = target["customFields"]["serial_number"]
    for _ in range(3):
        sb.reset_log()
        [result] = await push.push(cfg, db_url)
        assert (result.accepted, result.rejected) == (0, 1)
        assert writes(sb) == ["POST"]
    assert [s for s, _ in await outbox(db)] == ["superseded", "superseded", "rejected"]
    assert await outbox(db) == [("superseded", 2), ("superseded", 3), ("rejected", None)]
    sb.config.reject_keys = ()
    [done] = await push.push(cfg, db_url)
    assert (done.accepted, done.rejected) == (1, 0)
    assert record(sb, serial)["customFields"]["city"] == "Wanted"
    # the table now equals the mirror: nothing outstanding, nothing queued
    [idle] = await push.push(cfg, db_url)
    assert idle.requests == 0
    states = await db.fetch("SELECT state FROM syncer.outbox ORDER BY id")
    assert [r["state"] for r in states] == ["superseded", "superseded", "superseded", "accepted"]


async def test_a_desired_row_the_table_no_longer_asks_for_is_superseded(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=20)
    cfg, target = await wanted_city(sb, url, db, db_url)
    city = target["customFields"]["city"]
    await push.push(cfg, db_url)
    await db.execute("UPDATE analytics.desired_locations SET city = $1", city)
    sb.config.reject_keys = ()
    sb.reset_log()
    [result] = await push.push(cfg, db_url)
    assert result.requests == 0 and writes(sb) == []
    row = await db.fetchrow("SELECT state, superseded_by, message FROM syncer.outbox")
    assert (row["state"], row["superseded_by"]) == ("superseded", None)
    assert "no longer asks" in row["message"]


async def test_a_record_the_mirror_does_not_know_yet_keeps_its_order(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """push_read_back = false: the mirror learns neither the delete's soft-deleted record nor
    the record a later upsert of the same serial created. The serial now leads only to a
    deleted mirror record, so it places nothing: an update by the new record's refId and a
    later upsert of the serial are ordered as one key (the upsert's group comes first in the
    wave otherwise, and the vendor would end with the update's value)."""
    url, sb = await sandbox(master_records=30)
    cfg = config(sb, url, push_read_back=False)
    await engine.sync(cfg, db_url)
    old, other = sb.records("master")[5:7]
    serial = old["customFields"]["serial_number"]
    await enqueue(
        db,
        [
            ("delete", {"refId": old["refId"]}),
            ("upsert", {"serial_number": serial, "city": "Reborn"}),
        ],
    )
    [first] = await push.push(cfg, db_url)
    assert first.accepted == 2
    reborn = record(sb, serial)
    assert reborn["refId"] != old["refId"]
    await enqueue(
        db,
        [
            ("upsert", {"serial_number": other["customFields"]["serial_number"], "city": "Z"}),
            ("update", {"refId": reborn["refId"], "city": "Updated"}),
            ("upsert", {"serial_number": serial, "city": "Last"}),
        ],
    )
    sb.reset_log()
    [second] = await push.push(cfg, db_url)
    assert (second.accepted, second.rejected) == (3, 0)
    assert writes(sb) == ["POST", "PATCH", "POST"]
    assert record(sb, serial)["customFields"]["city"] == "Last"
