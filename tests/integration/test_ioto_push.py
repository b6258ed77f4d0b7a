"""Outbox rows pushed to the Ioto sandbox: one item per call, fanned out, upserts by key."""

from __future__ import annotations

from functools import partial

import asyncpg
import pytest

from syncer import engine, push
from tests import outbox, sandboxes
from tests.conftest import vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

OPTIONS = {"account_id": "01SANDBOXACCOUNT000000000"}
start = partial(sandboxes.ioto, devices=50, store_items=200, logs=10)
token = sandboxes.token_fixture(sandboxes.IOTO_TOKEN)


async def test_store_upserts_land_once_each_and_the_mirror_follows(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("store",), options=OPTIONS)
    await engine.sync(config, db_url)
    existing = sb.records("Store")[:10]
    device = existing[0]["deviceId"]
    rows = [
        {"deviceId": i["deviceId"], "key": i["key"], "value": "pushed", "type": "string"}
        for i in existing
    ]
    rows += [
        {"deviceId": device, "key": f"pushed-{n}", "value": n, "type": "number"} for n in range(20)
    ]
    rows.append({"deviceId": device, "key": "bad", "value": 1, "accountId": "someone"})
    await outbox.enqueue(db, "ioto", "store", "upsert", rows)
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected, result.invalid) == (30, 0, 1)
    created = sorted(w.created for w in sb.ledger)
    assert created.count(True) == 20 and created.count(False) == 10
    assert result.requests == 30  # one call per item; the answers carry the items: no read-back
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.ioto__store WHERE _data->>'value' = 'pushed' "
        "OR _data->>'key' LIKE 'pushed-%'"
    )
    assert mirrored == 30
    reason = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'invalid'")
    assert "accountId" in reason


async def test_a_device_of_another_account_rejects_the_row_not_the_push(
    serve: Serve, db_url: str, db: asyncpg.Connection, token: str
) -> None:
    """Ioto's 403 for a foreign device is about the row; the push goes on."""
    url, sb = await start(serve)
    config = vendor_config("ioto", url, ("store",), options=OPTIONS)
    device = sb.records("Store")[0]["deviceId"]
    rows = [
        {"deviceId": "Z78ZSVY0CP", "key": "k", "value": 1, "type": "number"},
        {"deviceId": device, "key": "fine", "value": 2, "type": "number"},
    ]
    await outbox.enqueue(db, "ioto", "store", "upsert", rows)
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected, result.error) == (1, 1, None)
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'rejected'")
    assert "not claimed" in message
