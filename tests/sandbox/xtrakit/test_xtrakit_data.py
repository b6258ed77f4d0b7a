"""The dataset: record shapes and type quirks, determinism, generations and churn."""

from __future__ import annotations

import re

import orjson
from xtrakit_support import AUTH, CUSTOMERS, ITEMS, LISTS, SALES, get_body

from syncer.sandbox.xtrakit import COLLECTIONS, XTRAKIT_KEY, XtraKitConfig, create_app

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
DATE = re.compile(r"\d{4}-\d\d-\d\d")
MONEY = re.compile(r"\d+\.\d\d")
SMALL = XtraKitConfig(customers=120, items=90, categories=12, sales=150)


def test_record_shapes_and_type_quirks():
    """Items: numeric money, quantity a string; sales: money and customer_id strings."""
    sb = create_app(SMALL)[XTRAKIT_KEY]
    for collection in COLLECTIONS:
        records = sb.records(collection)
        assert [r["id"] for r in records] == list(range(1, len(records) + 1))
        for record in records:
            assert TIMESTAMP.fullmatch(record["created_at"]), record
            assert record["created_at"] <= record["updated_at"] < "2025-07-01"
    customer = sb.records("customers")[0]
    assert {
        "id", "user_id", "business_code", "customer_group_id", "customer_name", "customer_email",
        "customer_phone", "customer_country", "customer_city", "customer_state", "address1",
    } <= set(customer)  # fmt: skip
    assert isinstance(customer["customer_group_id"], int)
    items = sb.records("items")
    for item in items:
        assert isinstance(item["unit_cost"], float) and isinstance(item["item_price"], float)
        assert isinstance(item["quantity"], str) and item["quantity"].isdigit()
        assert re.fullmatch(r"[A-Z][0-9a-f]{7}", item["item_code"])
        assert 1 <= item["category_id"] <= 12
        assert item["status"] == ("in-stock" if item["quantity"] != "0" else "out-of-stock")
    assert len({item["item_code"] for item in items}) == len(items)
    sales = sb.records("sales")
    for sale in sales:
        for name in ("sub_total_amount", "total_amount", "amount_paid"):
            assert isinstance(sale[name], str) and MONEY.fullmatch(sale[name])
        assert isinstance(sale["customer_id"], str) and 1 <= int(sale["customer_id"]) <= 120
        assert re.fullmatch(r"\d{6}", sale["invoice_code"])
        assert sale["invoice_number"] and DATE.fullmatch(sale["due_date"])
        assert (sale["payment_date"] is None) == (sale["payment_status"] == "draft")
    assert len({sale["invoice_code"] for sale in sales}) == len(sales)
    assert {sale["invoice_type"] for sale in sales} == {
        "pos",
        "invoice",
        "storefront",
        "main",
        "order",
    }
    assert {sale["payment_status"] for sale in sales} == {"paid", "partial", "draft"}


async def test_served_json_keeps_the_quirks(make_xtrakit):
    """Over HTTP the quirks survive: "quantity": "20"-style strings, "200.00"-style money."""
    client = await make_xtrakit()
    raw = await (await client.get(ITEMS, headers=AUTH)).read()
    assert re.search(rb'"quantity":"\d+"', raw) and re.search(rb'"unit_cost":\d', raw)
    raw = await (await client.get(SALES, headers=AUTH)).read()
    assert re.search(rb'"total_amount":"\d+\.\d\d"', raw)
    assert re.search(rb'"customer_id":"\d+"', raw)


async def test_same_seed_same_data_other_seed_other_data(make_xtrakit):
    """Two sandboxes with one seed serve byte-identical pages; another seed differs."""
    first, second = await make_xtrakit(), await make_xtrakit()
    other = await make_xtrakit(seed=2)
    for path in LISTS:
        pages = [
            await (await c.get(path, params={"per_page": "1000"}, headers=AUTH)).read()
            for c in (first, second, other)
        ]
        assert pages[0] == pages[1]
        assert pages[0] != pages[2]


def test_generation_is_deterministic_and_does_what_it_reports():
    """A generation changes, deletes and inserts the reported ids, the same way for one seed."""
    one, two = create_app(SMALL)[XTRAKIT_KEY], create_app(SMALL)[XTRAKIT_KEY]
    before = {c: {r["id"]: r for r in one.records(c)} for c in COLLECTIONS}
    result = one.generation(change_pct=10, delete_pct=5, insert_pct=5)
    assert result == two.generation(change_pct=10, delete_pct=5, insert_pct=5)
    assert result.generation == 1
    assert set(result.changed) == set(result.deleted) == set(result.inserted) == set(COLLECTIONS)
    assert len(result.changed["customers"]) == 12
    assert len(result.deleted["sales"]) == 8 and len(result.inserted["sales"]) == 8
    assert result.inserted["customers"] == (121, 122, 123, 124, 125, 126)
    for collection in COLLECTIONS:
        after = {r["id"]: r for r in one.records(collection)}
        assert after == {r["id"]: r for r in two.records(collection)}
        assert not set(result.deleted[collection]) & set(after)
        assert not set(result.changed[collection]) & set(result.deleted[collection])
        for id_ in result.changed[collection]:
            assert after[id_]["updated_at"] == "2025-07-02 00:00:00"
            assert after[id_] != before[collection][id_]
        for id_ in result.inserted[collection]:
            assert id_ not in before[collection]
            assert after[id_]["created_at"] == after[id_]["updated_at"] == "2025-07-02 00:00:00"
        untouched = set(after) - set(result.changed[collection]) - set(result.inserted[collection])
        assert all(after[id_] == before[collection][id_] for id_ in untouched)
        assert list(after) == sorted(after)
    assert one.generation(0, 0, 0).generation == 2


def test_deleted_ids_are_never_reused():
    """Inserts after deletes take ids above every id issued so far (auto-increment)."""
    sb = create_app(SMALL)[XTRAKIT_KEY]
    sb.generation(change_pct=0, delete_pct=50, insert_pct=0)
    result = sb.generation(change_pct=0, delete_pct=0, insert_pct=10)
    assert min(result.inserted["customers"]) == 121


async def test_churn_deletes_before_the_page_and_appends_inserts(make_xtrakit):
    """With churn on, offset paging skips records and the total grows, like a live table."""
    client = await make_xtrakit(churn_inserts_per_page=2, churn_deletes_per_page=1)
    sb = client.app[XTRAKIT_KEY]
    seen, page, last = [], 1, None
    while last is None or page <= last:
        data = (await get_body(client, CUSTOMERS, page=str(page), per_page="20"))["data"]
        last = data["pagination"]["last_page"]
        seen += [r["id"] for r in data["customers"]]
        page += 1
    live = [r["id"] for r in sb.records("customers")]
    assert len(live) == 120 + 2 * (page - 1) - (page - 2)
    assert max(live) > 120  # inserts took new ids at the end
    assert len(seen) == len(set(seen))
    missed = set(live) - set(seen)
    # deletes before each page shifted survivors back past the offset, and the last page's
    # own churn added two records no page showed
    assert set(live[-2:]) < missed
    assert any(id_ <= 120 for id_ in missed)


async def test_churn_is_deterministic(make_xtrakit):
    """Two sandboxes with one seed churn identically for the same requests."""
    clients = [await make_xtrakit(churn_inserts_per_page=3, churn_deletes_per_page=2) for _ in "ab"]
    for page in ("1", "2", "3"):
        bodies = [
            await (await c.get(SALES, params={"page": page}, headers=AUTH)).read() for c in clients
        ]
        assert bodies[0] == bodies[1]
    assert clients[0].app[XTRAKIT_KEY].records("sales") == clients[1].app[XTRAKIT_KEY].records(
        "sales"
    )
    # page 3 was counted after two churns (+3, then +3 -2); its own churn came after
    assert orjson.loads(bodies[0])["data"]["pagination"]["total"] == 150 + 6 - 2
    assert len(clients[0].app[XTRAKIT_KEY].records("sales")) == 150 + 9 - 4
