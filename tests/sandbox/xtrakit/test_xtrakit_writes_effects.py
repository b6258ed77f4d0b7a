"""What writes leave behind: the ledger, the fault knobs, 402/429 on writes, reads seeing writes."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
from xtrakit_support import (
    AUTH,
    CUSTOMER_BODY,
    CUSTOMERS,
    CUSTOMERS_ADD,
    ITEM_BODY,
    ITEMS,
    ITEMS_ADD,
    SALE_BODY,
    SALES,
    SALES_ADD,
    get_body,
    send,
)

from syncer.sandbox.xtrakit import XTRAKIT_KEY, AppliedWrite


async def test_ledger_records_only_applied_writes(make_xtrakit, clock):
    """Each applied write is one AppliedWrite; refused writes (400, 404) and reads are not."""
    client = await make_xtrakit(clock=clock)
    sb = client.app[XTRAKIT_KEY]
    await send(client, "GET", CUSTOMERS)
    customer = (await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, 201))["data"]["customer"]
    clock.advance(1)
    await send(client, "PUT", f"{CUSTOMERS}/{customer['id']}", CUSTOMER_BODY)
    item = (await send(client, "POST", ITEMS_ADD, ITEM_BODY, 201))["data"]["item"]
    await send(client, "PUT", f"{ITEMS}/{item['item_code']}", ITEM_BODY)
    await send(client, "POST", SALES_ADD, SALE_BODY, expect=201)
    await send(client, "POST", SALES_ADD, SALE_BODY, expect=400)  # duplicate
    await send(client, "PUT", f"{CUSTOMERS}/9999", CUSTOMER_BODY, expect=404)
    await send(client, "DELETE", f"{ITEMS}/{item['item_code']}")
    await send(client, "DELETE", f"{CUSTOMERS}/{customer['id']}")
    assert all(isinstance(entry, AppliedWrite) for entry in sb.ledger)
    assert [(w.method, w.operation, w.key) for w in sb.ledger] == [
        ("POST", "customer.add", "121"),
        ("PUT", "customer.edit", "121"),
        ("POST", "item.add", item["item_code"]),
        ("PUT", "item.edit", item["item_code"]),
        ("POST", "sale.add", "042424"),
        ("DELETE", "item.delete", item["item_code"]),
        ("DELETE", "customer.delete", "121"),
    ]
    assert (sb.ledger[0].at, sb.ledger[1].at) == (1000.0, 1001.0)
    assert (sb.ledger[0].path, sb.ledger[-1].path) == (CUSTOMERS_ADD, f"{CUSTOMERS}/121")
    listed = orjson.loads(await (await client.get("/_sandbox/ledger")).read())
    assert listed["count"] == 7
    assert listed["ledger"][4] == {
        "at": 1001.0,
        "method": "POST",
        "path": SALES_ADD,
        "operation": "sale.add",
        "key": "042424",
    }
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["ledger"] == 7
    assert stats["records"]["customers"] == 120
    sb.reset_ledger()
    assert sb.ledger == []
    await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, expect=201)
    cleared = await client.delete("/_sandbox/ledger")
    assert orjson.loads(await cleared.read()) == {"cleared": 1}
    assert sb.ledger == []


async def test_write_fail_after_apply_answers_500_after_applying(make_xtrakit):
    """The next N applied writes change the data but answer 500; refused writes do not count."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    set_knob = await client.post("/_sandbox/config", json={"write_fail_after_apply": 2})
    assert set_knob.status == 200
    failed = await send(client, "POST", SALES_ADD, SALE_BODY, expect=500)
    assert failed == {"status": 500, "message": "Server Error", "data": None}
    assert sb.records("sales")[-1]["invoice_code"] == SALE_BODY["invoice_code"]
    # the retry a client would make now meets its own write
    retry = await send(client, "POST", SALES_ADD, SALE_BODY, expect=400)
    assert retry["message"] == "The invoice code has already been taken."
    code = sb.records("items")[0]["item_code"]
    await send(client, "DELETE", f"{ITEMS}/{code}", expect=500)
    assert code not in {item["item_code"] for item in sb.records("items")}
    assert sb.config.write_fail_after_apply == 0
    await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, expect=201)
    assert [w.operation for w in sb.ledger] == ["sale.add", "item.delete", "customer.add"]
    assert (
        await client.post("/_sandbox/config", json={"write_fail_after_apply": -1})
    ).status == 400


async def test_write_delay_applies_before_answering(make_xtrakit):
    """With write_delay_ms the write is visible while its answer is held; a client that gives
    up still leaves it applied."""
    client = await make_xtrakit(write_delay_ms=300)
    sb = client.app[XTRAKIT_KEY]
    pending = asyncio.create_task(client.post(CUSTOMERS_ADD, json=CUSTOMER_BODY, headers=AUTH))
    for _ in range(100):
        if sb.ledger:
            break
        await asyncio.sleep(0.005)
    assert [w.operation for w in sb.ledger] == ["customer.add"]
    assert sb.records("customers")[-1]["id"] == 121
    assert not pending.done()
    assert (await pending).status == 201
    sb.config.write_delay_ms = 200
    impatient = aiohttp.ClientTimeout(total=0.05)
    try:
        await client.post(CUSTOMERS_ADD, json=CUSTOMER_BODY, headers=AUTH, timeout=impatient)
        raise AssertionError("the answer should have come too late")
    except TimeoutError:
        pass
    assert sb.records("customers")[-1]["id"] == 122
    assert len(sb.ledger) == 2
    sb.config.write_delay_ms = 0
    bad = await send(client, "POST", CUSTOMERS_ADD, {}, expect=400)  # refused: no delay, no entry
    assert bad["status"] == 400 and len(sb.ledger) == 2


async def test_suspended_account_refuses_writes_with_402(make_xtrakit):
    """402 comes before the handler: nothing is written or ledgered."""
    client = await make_xtrakit(suspended=True)
    sb = client.app[XTRAKIT_KEY]
    for method, path, body in (
        ("POST", CUSTOMERS_ADD, CUSTOMER_BODY),
        ("PUT", f"{CUSTOMERS}/1", CUSTOMER_BODY),
        ("DELETE", f"{CUSTOMERS}/1", None),
        ("POST", SALES_ADD, SALE_BODY),
    ):
        answer = await send(client, method, path, body, expect=402)
        assert answer == {"status": 402, "message": "Payment required", "data": None}
    assert len(sb.records("customers")) == 120 and len(sb.records("sales")) == 150
    assert sb.ledger == []
    await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, expect=401, headers={})


async def test_writes_share_the_rate_limit_with_reads(make_xtrakit, clock):
    """Writes use the key's 60/min window like reads; a 429 write is not applied."""
    client = await make_xtrakit(rate_limit=3, clock=clock)
    sb = client.app[XTRAKIT_KEY]
    response = await client.post(CUSTOMERS_ADD, json=CUSTOMER_BODY, headers=AUTH)
    assert (response.status, response.headers["X-RateLimit-Remaining"]) == (201, "2")
    await send(client, "GET", CUSTOMERS)
    await send(client, "POST", CUSTOMERS_ADD, {}, expect=400)  # refused, but it used a slot
    refused = await client.post(SALES_ADD, json=SALE_BODY, headers=AUTH)
    assert refused.status == 429 and refused.headers["Retry-After"] == "60"
    assert orjson.loads(await refused.read())["message"] == "Too Many Attempts."
    assert [w.operation for w in sb.ledger] == ["customer.add"]
    assert len(sb.records("sales")) == 150
    clock.advance(60)
    await send(client, "POST", SALES_ADD, SALE_BODY, expect=201)


async def test_reads_see_writes_at_once(make_xtrakit):
    """Lists, totals and filters reflect adds, edits and deletes on the next request."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    await send(client, "POST", SALES_ADD, SALE_BODY, expect=201)
    found = await get_body(client, SALES, invoice_code=SALE_BODY["invoice_code"])
    assert [sale["invoice_number"] for sale in found["data"]["sales"]] == ["INV-LOCAL-1"]
    by_customer = await get_body(client, SALES, customer_id="7", invoice_type="pos")
    assert "042424" in {sale["invoice_code"] for sale in by_customer["data"]["sales"]}
    customer = (await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, 201))["data"]["customer"]
    page = await get_body(client, CUSTOMERS, page="7", per_page="20")
    assert page["data"]["pagination"]["total"] == 121
    assert page["data"]["customers"] == [customer]
    # new records carry the sandbox's write time: after every base record
    since = await get_body(client, CUSTOMERS, created_at="2025-07-01")
    assert since["data"]["customers"] == [customer]
    item = (await send(client, "POST", ITEMS_ADD, ITEM_BODY | {"category_id": 11}, 201))["data"]
    in_category = await get_body(client, ITEMS, category_id="11", per_page="1000")
    assert item["item"] in in_category["data"]["items"]
    edited = CUSTOMER_BODY | {"customer_city": "Kumasi"}
    await send(client, "PUT", f"{CUSTOMERS}/{customer['id']}", edited)
    page = await get_body(client, CUSTOMERS, page="7")
    assert page["data"]["customers"][0]["customer_city"] == "Kumasi"
    await send(client, "DELETE", f"{CUSTOMERS}/{customer['id']}")
    page = await get_body(client, CUSTOMERS, page="7")
    assert (page["data"]["customers"], page["data"]["pagination"]["total"]) == ([], 120)
    assert len(sb.records("items")) == 91


async def test_writes_after_a_generation_take_its_day(make_xtrakit, clock):
    """Write times follow the generation clock: 2025-07-01 + g days + seconds since start."""
    client = await make_xtrakit(clock=clock)
    sb = client.app[XTRAKIT_KEY]
    sb.generation()
    clock.advance(3600)
    body = await send(client, "POST", ITEMS_ADD, ITEM_BODY, expect=201)
    assert body["data"]["item"]["created_at"] == "2025-07-02 01:00:00"


async def test_same_writes_give_the_same_item_codes(make_xtrakit):
    """Generated item codes derive from the seed and the order of writes, not the wall clock."""
    codes = []
    for _ in range(2):
        client = await make_xtrakit()
        body = await send(client, "POST", ITEMS_ADD, ITEM_BODY, expect=201)
        codes.append(body["data"]["item"]["item_code"])
    assert codes[0] == codes[1]
