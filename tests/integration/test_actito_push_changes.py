"""Actito custom-record updates (PUT) and profile and custom-record deletes, pushed from the
outbox to the Actito sandbox over HTTP, with the mirror following."""

from __future__ import annotations

from functools import partial
from typing import Any

import asyncpg
import pytest

from syncer import engine, push
from tests import outbox, sandboxes
from tests.conftest import vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

OPTIONS = {"entity": "sandbox", "unique:customers": "emailAddress", "unique:orders": "orderId"}
start = partial(sandboxes.actito, profiles=60, custom_records=40)
key = sandboxes.token_fixture(sandboxes.ACTITO_KEY)


def config(url: str, *streams: str) -> Any:
    streams = streams or ("custom:orders",)
    return vendor_config("actito", url, streams, options=OPTIONS, max_in_flight=4)


enqueue = outbox.enqueuer("actito")


def values(record: dict[str, Any], listed: str = "properties") -> dict[str, Any]:
    return {p["name"]: p["value"] for p in record[listed]}


async def states(db: asyncpg.Connection) -> list[tuple[str, str | None]]:
    rows = await db.fetch("SELECT state, message FROM syncer.outbox ORDER BY id")
    return [(r["state"], r["message"]) for r in rows]


async def test_an_update_replaces_a_custom_record_and_an_unknown_key_is_rejected(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    cfg = config(url, "custom:orders")
    await engine.sync(cfg, db_url)
    order = values(sb.records("custom")[0])
    changed = {k: order[k] for k in ("orderId", "customerId", "currency")}
    changed |= {"amount": 99.5, "status": "SHIPPED"}
    unknown = {**changed, "orderId": "ORD-9999999999999999"}
    await enqueue(db, "custom:orders", "update", [changed, unknown])
    [result] = await push.push(cfg, db_url)
    assert (result.accepted, result.rejected) == (1, 1), result.error
    assert [w.operation for w in sb.ledger] == ["custom.update"]
    assert [w.method for w in sb.ledger] == ["PUT"]
    now = values(sb.records("custom")[0])
    assert (now["amount"], now["status"]) == (99.5, "SHIPPED")
    assert now["creationMoment"] == order["creationMoment"]
    [(_, _), (_, message)] = await states(db)
    assert "No record" in (message or "")
    mirrored = await db.fetchrow(
        "SELECT amount, status FROM mirror_view.actito__custom_orders WHERE order_id = $1",
        order["orderId"],
    )
    assert (float(mirrored["amount"]), mirrored["status"]) == (99.5, "SHIPPED")


async def test_an_update_missing_a_mandatory_property_is_rejected_and_changes_nothing(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """PUT replaces the record: the vendor refuses one that would leave a mandatory property
    out, and the row is rejected with its message."""
    url, sb = await start(serve)
    before = sb.records("custom")[1]
    await enqueue(
        db, "custom:orders", "update", [{"orderId": values(before)["orderId"], "amount": 1.0}]
    )
    [result] = await push.push(config(url), db_url)
    assert result.rejected == 1 and sb.ledger == []
    assert "Missing mandatory" in ((await states(db))[0][1] or "")
    assert sb.records("custom")[1] == before


async def test_custom_record_deletes_go_one_per_call_and_the_mirror_marks_them(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    cfg = config(url, "custom:orders")
    await engine.sync(cfg, db_url)
    doomed = [values(r)["orderId"] for r in sb.records("custom")[:3]]
    rows = [{"orderId": k} for k in doomed] + [{"orderId": "ORD-0000000000099999"}, {"x": 1}]
    await enqueue(db, "custom:orders", "delete", rows)
    [result] = await push.push(cfg, db_url)
    # the unknown key answers 404: already gone, nothing left to do
    assert (result.accepted, result.invalid) == (4, 1), result.error
    assert {w.key for w in sb.ledger} == set(doomed)
    left = {values(r)["orderId"] for r in sb.records("custom")}
    assert not left & set(doomed)
    deleted = await db.fetch(
        "SELECT _pk FROM mirror.actito__custom_orders WHERE _deleted_at IS NOT NULL"
    )
    assert sorted(r["_pk"] for r in deleted) == sorted(doomed)


async def test_a_profile_delete_by_profile_id_follows_an_upsert_and_the_mirror_marks_it(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """An upsert then a delete of one profile (the delete giving the unique attribute too, so
    the two are one key): the profile ends deleted at Actito and in the mirror."""
    url, sb = await start(serve)
    cfg = config(url, "profiles:customers")
    await engine.sync(cfg, db_url)
    target = sb.records("profiles")[0]
    email = values(target, "attributes")["emailAddress"]
    pid = target["profileId"]
    await enqueue(db, "profiles:customers", "upsert", [{"emailAddress": email, "lastName": "X"}])
    await enqueue(
        db,
        "profiles:customers",
        "delete",
        [{"profileId": pid, "emailAddress": email}, {"profileId": "not-a-number"}],
    )
    [result] = await push.push(cfg, db_url)
    assert (result.accepted, result.invalid) == (2, 1), result.error
    assert [w.operation for w in sb.ledger] == ["profile.update", "profile.delete"]
    assert pid not in {p["profileId"] for p in sb.records("profiles")}
    assert sb.ledger[1].path.endswith(f"/profile/{pid}")
    gone = await db.fetchval(
        "SELECT _deleted_at IS NOT NULL FROM mirror.actito__profiles_customers WHERE _pk = $1",
        str(pid),
    )
    assert gone is True


async def test_an_update_of_profiles_is_not_an_actito_operation(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, _ = await start(serve)
    await enqueue(db, "profiles:customers", "update", [{"emailAddress": "a@example.com"}])
    [result] = await push.push(config(url), db_url)
    assert (result.invalid, result.requests) == (1, 0)
    assert "custom:<table> with upsert, update or delete" in ((await states(db))[0][1] or "")
