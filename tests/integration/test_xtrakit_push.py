"""XtraKit pushes over HTTP: upsert emulated through the mirror (PUT a full record for a known
key, add for a new one), append-only sales, and no duplicate from an add whose answer is lost."""

from __future__ import annotations

from functools import partial
from typing import Any

import asyncpg
import pytest

from syncer import engine, errors, push
from tests import outbox, sandboxes
from tests.conftest import vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

start = partial(sandboxes.xtrakit, customers=300, items=200, categories=10, sales=100)
key = sandboxes.token_fixture(sandboxes.XTRAKIT_KEY)


enqueue = outbox.enqueuer("xtrakit")


async def states(db: asyncpg.Connection) -> list[str]:
    return [r["state"] for r in await db.fetch("SELECT state FROM syncer.outbox ORDER BY id")]


def customer(phone: str, city: str = "Kumasi") -> dict[str, Any]:
    return {
        "customer_name": "New Customer",
        "customer_phone": phone,
        "customer_country": "Ghana",
        "customer_city": city,
        "customer_state": "Ashanti",
        "address1": "1 New Road",
    }


async def test_known_keys_are_replaced_in_full_and_new_keys_added(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    await engine.sync(config, db_url)
    known = sb.records("customers")[:3]
    # a partial payload for a known phone: only the city changes, every other field is kept
    rows = [{"customer_phone": c["customer_phone"], "customer_city": "Pushville"} for c in known]
    rows += [customer(f"+233200000{n:03d}") for n in range(4)]
    await enqueue(db, "customers", "upsert", rows)
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected, result.invalid) == (7, 0, 0), result.error
    assert [w.method for w in sb.ledger] == ["PUT"] * 3 + ["POST"] * 4
    after = {c["id"]: c for c in sb.records("customers")}
    for before in known:
        now = after[before["id"]]
        assert now["customer_city"] == "Pushville"
        assert {k: v for k, v in now.items() if k not in ("customer_city", "updated_at")} == {
            k: v for k, v in before.items() if k not in ("customer_city", "updated_at")
        }
    assert len(after) == 304
    ids = await db.fetch("SELECT vendor_id FROM syncer.outbox ORDER BY id")
    assert [r["vendor_id"] for r in ids[:3]] == [str(c["id"]) for c in known]
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.xtrakit__customers WHERE _data->>'customer_city' = 'Pushville'"
    )
    assert mirrored == 3
    # the mirror now maps the new phones: pushing them again edits, never adds
    sb.reset_ledger()
    await enqueue(db, "customers", "upsert", [customer("+233200000001", city="Wa")])
    [again] = await push.push(config, db_url)
    assert again.accepted == 1 and [w.method for w in sb.ledger] == ["PUT"]


async def test_two_upserts_of_a_new_key_in_one_push_add_once_then_replace(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """The second row waits for the first (one key), and is merged with the mirror only then:
    it becomes a PUT of the record the first created, not a second add."""
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    phone = "+233209999999"
    await enqueue(db, "customers", "upsert", [customer(phone), customer(phone, city="Tamale")])
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected) == (2, 0)
    assert [w.method for w in sb.ledger] == ["POST", "PUT"]
    [created] = [c for c in sb.records("customers") if c["customer_phone"] == phone]
    assert created["customer_city"] == "Tamale"


async def test_an_add_whose_answer_is_lost_is_read_back_and_not_added_twice(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """The sandbox creates the customer and answers 500: the push reads the customers back,
    finds the phone with the values sent, and accepts the row without a second POST."""
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    await enqueue(db, "customers", "upsert", [customer("+233500000001")])
    sb.config.write_fail_after_apply = 1
    [result] = await push.push(config, db_url)
    assert result.accepted == 1, result.error
    phones = [c["customer_phone"] for c in sb.records("customers")]
    assert phones.count("+233500000001") == 1
    assert [w.method for w in sb.ledger] == ["POST"]


async def test_a_timed_out_add_left_by_a_failed_push_is_read_back_by_the_next(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",), max_attempts=1, timeout=0.3)
    await enqueue(db, "customers", "upsert", [customer("+233500000002")])
    sb.config.write_delay_ms = 1_000
    [failed] = await push.push(config, db_url)
    sb.config.write_delay_ms = 0
    assert failed.exit_code == errors.ExitCode.TRANSIENT
    assert await states(db) == ["sending"]
    [result] = await push.push(config, db_url)
    assert result.accepted == 1
    phones = [c["customer_phone"] for c in sb.records("customers")]
    assert phones.count("+233500000002") == 1


async def test_sales_are_added_once_and_a_taken_invoice_code_is_rejected(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("sales",))
    taken = sb.records("sales")[0]["invoice_code"]
    sale = {
        "invoice_number": "INV-NEW",
        "customer_id": 1,
        "sub_total_amount": "10.00",
        "total_amount": "10.00",
        "amount_paid": "10.00",
        "invoice_type": "pos",
        "payment_type": "cash",
    }
    codes = ["900001", "900002", taken]
    await enqueue(db, "sales", "add", [{**sale, "invoice_code": c} for c in codes])
    sb.config.write_fail_after_apply = 1  # the first add lands but answers 500
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected) == (2, 1)
    assert await states(db) == ["accepted", "accepted", "rejected"]
    all_codes = [s["invoice_code"] for s in sb.records("sales")]
    assert all_codes.count("900001") == all_codes.count("900002") == all_codes.count(taken) == 1
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.xtrakit__sales WHERE _data->>'invoice_code' LIKE '9000%'"
    )
    assert mirrored == 2


async def test_a_row_missing_a_required_field_is_rejected_with_the_vendor_message(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    await enqueue(db, "customers", "upsert", [{"customer_phone": "+233500000003"}])
    await enqueue(db, "customers", "upsert", [{"customer_name": "no phone"}])
    [result] = await push.push(config, db_url)
    assert (result.rejected, result.invalid) == (1, 1)
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'rejected'")
    assert "required" in message
    assert sb.ledger == []


async def test_deletes_remove_the_record_and_the_mirror_row(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config("xtrakit", url, ("items",))
    await engine.sync(config, db_url)
    codes = [i["item_code"] for i in sb.records("items")[:2]]
    await enqueue(db, "items", "delete", [{"item_code": c} for c in [*codes, "NOPE0000"]])
    [result] = await push.push(config, db_url)
    assert result.accepted == 3  # an unknown code is already gone: nothing to do
    assert not {i["item_code"] for i in sb.records("items")} & set(codes)
    live = await db.fetchval(
        "SELECT count(*) FROM mirror.xtrakit__items "
        "WHERE _deleted_at IS NULL AND _data->>'item_code' = ANY($1::text[])",
        codes,
    )
    assert live == 0


async def test_pushes_stay_under_the_per_minute_limit(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """30 adds against a 20-per-second sandbox limit (time scaled) get no 429."""
    url, sb = await start(serve, rate_limit=20)
    config = vendor_config("xtrakit", url, ("customers",), rate_limit=20, rate_period=60)
    await enqueue(db, "customers", "upsert", [customer(f"+23360000{n:04d}") for n in range(3)])
    [result] = await push.push(config, db_url)
    assert result.accepted == 3
    assert sb.count_status(429) == 0


async def test_a_desired_state_table_compares_numbers_as_the_typed_view_does(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """XtraKit sends quantities as strings ("112"); a desired numeric 112 is not a change."""
    url, sb = await start(serve)
    desired = [
        {
            "table": "analytics.desired_items",
            "endpoint": "items",
            "key": "sku",
            "fields": ["quantity", "item_price"],
        }
    ]
    config = vendor_config("xtrakit", url, ("items",), desired=desired)
    await engine.sync(config, db_url)
    await db.execute("CREATE SCHEMA analytics")
    await db.execute(
        "CREATE TABLE analytics.desired_items AS SELECT DISTINCT ON (sku) sku, quantity, "
        "item_price FROM mirror_view.xtrakit__items WHERE sku IS NOT NULL ORDER BY sku, id"
    )
    assert (await push.plan(config, db_url))[0]["update"] == 0
    await db.execute(
        "UPDATE analytics.desired_items SET quantity = quantity + 1 "
        "WHERE sku = (SELECT min(sku) FROM analytics.desired_items)"
    )
    [line] = await push.plan(config, db_url)
    assert (line["create"], line["update"]) == (0, 1)
    [result] = await push.push(config, db_url)
    assert result.accepted == 1 and [w.method for w in sb.ledger] == ["PUT"]
    [again] = await push.push(config, db_url)
    assert again.requests == 0
