"""Ioto `generic/update` and `generic/remove` pushed from the outbox to the Ioto sandbox over
HTTP: one item per call, the mirror following the answers."""

from __future__ import annotations

from functools import partial

import asyncpg
import orjson
import pytest

from syncer import engine, push
from tests import outbox, sandboxes
from tests.conftest import vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

OPTIONS = {"account_id": "01SANDBOXACCOUNT000000000"}
start = partial(sandboxes.ioto, devices=20, store_items=60, logs=10)
token = sandboxes.token_fixture(sandboxes.IOTO_TOKEN)


enqueue = outbox.enqueuer("ioto")


async def outcomes(db: asyncpg.Connection) -> list[tuple[str, str | None]]:
    rows = await db.fetch("SELECT state, message FROM syncer.outbox ORDER BY id")
    return [(r["state"], r["message"]) for r in rows]


async def test_store_updates_change_only_the_attributes_sent_and_the_mirror_follows(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("store",), options=OPTIONS)
    await engine.sync(config, db_url)
    items = sb.records("Store")[:3]
    rows = [{"deviceId": i["deviceId"], "key": i["key"], "value": "updated"} for i in items]
    missing = {"deviceId": items[0]["deviceId"], "key": "no-such-key", "value": 1}
    await enqueue(db, "store", "update", [*rows, missing, {"deviceId": "d", "key": "k"}])
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected, result.invalid) == (3, 1, 1), result.error
    assert result.requests == 4  # the answers carry the items: no read-back
    assert [w.operation for w in sb.ledger] == ["update"] * 3
    after = {(i["deviceId"], i["key"]): i for i in sb.records("Store")}
    for before in items:
        now = after[(before["deviceId"], before["key"])]
        assert now["value"] == "updated" and now["type"] == before["type"]
    states = await outcomes(db)
    assert "Cannot find" in (states[3][1] or "")
    assert "changes no attribute" in (states[4][1] or "")
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.ioto__store WHERE _data->>'value' = 'updated'"
    )
    assert mirrored == 3


async def test_an_update_moving_a_log_to_another_device_is_invalid(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    """`deviceId` is read-only on update except where it is part of the key (Store)."""
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("generic:Log",), options=OPTIONS)
    log = sb.records("Log")[0]
    await enqueue(db, "generic:Log", "update", [{"id": log["id"], "deviceId": "X"}])
    [result] = await push.push(config, db_url)
    assert (result.invalid, result.requests) == (1, 0)
    assert "deviceId" in ((await outcomes(db))[0][1] or "")


async def test_removes_delete_items_by_key_and_the_mirror_marks_them(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("store", "devices"), options=OPTIONS)
    await engine.sync(config, db_url)
    items = sb.records("Store")[:2]
    # extra attributes are not sent: only the key names the item
    rows = [{"deviceId": i["deviceId"], "key": i["key"], "value": "ignored"} for i in items]
    rows.append({"deviceId": items[0]["deviceId"], "key": "never-there"})
    await enqueue(db, "store", "remove", rows)
    device = sb.records("Device")[0]["id"]
    await enqueue(db, "devices", "remove", [{"id": device}])
    [result] = await push.push(config, db_url)
    # an item that is not there is answered {"data": null}: nothing left to do
    assert (result.accepted, result.rejected) == (4, 0), result.error
    assert [w.operation for w in sb.ledger] == ["remove"] * 3
    left = {(i["deviceId"], i["key"]) for i in sb.records("Store")}
    assert not left & {(i["deviceId"], i["key"]) for i in items}
    assert device not in {d["id"] for d in sb.records("Device")}
    gone = await db.fetch("SELECT _pk FROM mirror.ioto__store WHERE _deleted_at IS NOT NULL")
    assert sorted(r["_pk"] for r in gone) == sorted(
        orjson.dumps([i["deviceId"], i["key"]]).decode() for i in items
    )
    devices = await db.fetchval(
        "SELECT _deleted_at IS NOT NULL FROM mirror.ioto__devices WHERE _pk = $1", device
    )
    assert devices is True


async def test_an_unknown_ioto_operation_is_invalid(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, _ = await start(serve)
    config = vendor_config("ioto", url, ("store",), options=OPTIONS)
    await enqueue(db, "store", "delete", [{"deviceId": "d", "key": "k"}])
    [result] = await push.push(config, db_url)
    assert (result.invalid, result.requests) == (1, 0)
    assert "upsert, update or remove" in ((await outcomes(db))[0][1] or "")


async def test_plan_counts_updates_and_removes_without_sending(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("store",), options=OPTIONS)
    item = sb.records("Store")[0]
    key = {"deviceId": item["deviceId"], "key": item["key"]}
    await enqueue(db, "store", "update", [{**key, "value": 1}, {**key, "updated": "x"}])
    await enqueue(db, "store", "remove", [key, key])
    sb.reset_log()
    lines = {line["endpoint"]: line for line in await push.plan(config, db_url)}
    update, remove = lines["store (update)"], lines["store (remove)"]
    assert (update["update"], update["invalid"]) == (1, 1)
    assert (remove["delete"], remove["invalid"]) == (2, 0)
    assert sb.request_log == []
