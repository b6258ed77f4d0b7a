"""List filters: exact matches, a `created_at` start, `updated_at` and `due_date` ends."""

from __future__ import annotations

from xtrakit_support import CATEGORIES, CUSTOMERS, ITEMS, LISTS, SALES, get_body

from syncer.sandbox.xtrakit import XTRAKIT_KEY


async def ids(client, path, **params):
    """Every id the filtered list returns (one big page), checking the pagination total."""
    data = (await get_body(client, path, per_page="1000", **params))["data"]
    rows = data[LISTS[path]]
    assert data["pagination"]["total"] == len(rows)
    return [record["id"] for record in rows]


async def test_exact_match_filters(make_xtrakit):
    """customer_group_id, category_id, category_name and the sales fields match exactly."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    sale = sb.records("sales")[17]
    cases = [
        (CUSTOMERS, "customer_group_id", "3"),
        (ITEMS, "category_id", str(sb.records("items")[5]["category_id"])),
        (CATEGORIES, "category_name", "Phones"),
        (SALES, "invoice_code", sale["invoice_code"]),
        (SALES, "customer_id", sale["customer_id"]),
        (SALES, "invoice_type", "storefront"),
        (SALES, "invoice_type", "main"),
        (SALES, "payment_status", "partial"),
    ]
    for path, name, value in cases:
        expected = [r["id"] for r in sb.records(LISTS[path]) if str(r[name]) == value]
        assert expected, (name, value)
        assert await ids(client, path, **{name: value}) == expected, (name, value)
    assert await ids(client, SALES, invoice_code=sale["invoice_code"]) == [sale["id"]]
    assert await ids(client, SALES, payment_status="PAID") == []
    assert await ids(client, CATEGORIES, category_name="phones") == []


async def test_created_at_is_a_start_datetime(make_xtrakit):
    """created_at keeps records created at or after it; `H:m:s` may drop leading zeros."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    for path, collection in LISTS.items():
        pivot = sb.records(collection)[len(sb.records(collection)) // 2]["created_at"]
        expected = [r["id"] for r in sb.records(collection) if r["created_at"] >= pivot]
        assert await ids(client, path, created_at=pivot) == expected
    assert await ids(client, CUSTOMERS, created_at="2025-03-01 7:5:0") == [
        r["id"] for r in sb.records("customers") if r["created_at"] >= "2025-03-01 07:05:00"
    ]
    assert await ids(client, CUSTOMERS, created_at="2030-01-01") == []


async def test_updated_at_is_an_end_date_including_the_day(make_xtrakit):
    """updated_at keeps records updated on or before that day (the whole day counts)."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    for path in (CUSTOMERS, ITEMS, CATEGORIES):
        records = sb.records(LISTS[path])
        end = records[len(records) // 3]["updated_at"][:10]
        expected = [r["id"] for r in records if r["updated_at"][:10] <= end]
        assert 0 < len(expected) < len(records)
        assert await ids(client, path, updated_at=end) == expected


async def test_sales_due_date_end_and_payment_date(make_xtrakit):
    """due_date is an end date; payment_date matches one day; sales ignore updated_at."""
    client = await make_xtrakit()
    sales = client.app[XTRAKIT_KEY].records("sales")
    end = sales[60]["due_date"]
    assert await ids(client, SALES, due_date=end) == [
        r["id"] for r in sales if r["due_date"] <= end
    ]
    paid_on = next(r["payment_date"] for r in sales if r["payment_date"])
    assert await ids(client, SALES, payment_date=paid_on) == [
        r["id"] for r in sales if r["payment_date"] == paid_on
    ]
    assert len(await ids(client, SALES, updated_at="2000-01-01")) == len(sales)


async def test_filters_combine_and_page(make_xtrakit):
    """Several filters AND together, and pagination counts the filtered set."""
    client = await make_xtrakit()
    customers = client.app[XTRAKIT_KEY].records("customers")
    expected = [
        r["id"]
        for r in customers
        if r["customer_group_id"] == 2 and r["created_at"] >= "2024-06-01 00:00:00"
    ]
    data = (
        await get_body(
            client, CUSTOMERS, customer_group_id="2", created_at="2024-06-01", per_page="3"
        )
    )["data"]
    assert data["pagination"]["total"] == len(expected)
    assert [r["id"] for r in data["customers"]] == expected[:3]


async def test_bad_dates_are_400_and_blank_or_unknown_parameters_are_ignored(make_xtrakit):
    """A malformed date is 400 with a field message; empty values and unknown names do nothing."""
    client = await make_xtrakit()
    for params, message in [
        ({"created_at": "yesterday"}, "The created at field must be a valid date."),
        ({"updated_at": "2024-02-30"}, "The updated at field must be a valid date."),
        ({"created_at": "2024-01-01 25:00:00"}, "The created at field must be a valid date."),
    ]:
        body = await get_body(client, CUSTOMERS, expect=400, **params)
        assert body == {"status": 400, "message": message, "data": None}
    everyone = await ids(client, CUSTOMERS)
    assert await ids(client, CUSTOMERS, customer_group_id="", colour="red") == everyone
