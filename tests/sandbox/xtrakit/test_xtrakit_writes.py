"""The write routes: adds (201), Laravel-style 400s, PUT as full replacement, 404s, deletes."""

from __future__ import annotations

import re

import pytest
from xtrakit_support import (
    API,
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
    send,
)

from syncer.sandbox.xtrakit import XTRAKIT_KEY

ITEM_CODE = re.compile(r"[A-Z][0-9a-f]{7}")


async def test_add_customer_is_201_with_the_new_record(make_xtrakit, clock):
    """A new customer gets the next id and the sandbox clock's time; optional fields are null."""
    client = await make_xtrakit(clock=clock)
    sb = client.app[XTRAKIT_KEY]
    body = await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, expect=201)
    assert (body["status"], body["message"]) == (201, "Customer added")
    customer = body["data"]["customer"]
    assert customer == {
        "id": 121,  # 120 customers were built
        "user_id": sb.data.account.user_id,
        "business_code": sb.data.account.business_code,
        "customer_group_id": None,
        "customer_email": None,
        **CUSTOMER_BODY,
        "created_at": "2025-07-01 00:00:00",
        "updated_at": "2025-07-01 00:00:00",
    }
    assert list(customer) == list(sb.records("customers")[0])  # the lists' field order
    clock.advance(90.7)
    second = await send(client, "POST", CUSTOMERS_ADD, CUSTOMER_BODY, expect=201)
    assert second["data"]["customer"]["id"] == 122
    assert second["data"]["customer"]["created_at"] == "2025-07-01 00:01:30"
    assert sb.records("customers")[-1] == second["data"]["customer"]


async def test_add_item_generates_a_unique_item_code_and_keeps_the_type_quirks(make_xtrakit):
    """item_code: 8 characters, new; money stays a number, quantity becomes a string."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    seeded = {record["item_code"] for record in sb.records("items")}
    codes = []
    for quantity in (20, "2.50"):
        body = await send(client, "POST", ITEMS_ADD, ITEM_BODY | {"quantity": quantity}, 201)
        assert body["message"] == "Item added"
        item = body["data"]["item"]
        codes.append(item["item_code"])
    assert all(ITEM_CODE.fullmatch(code) for code in codes)
    assert len(set(codes)) == 2 and not set(codes) & seeded
    assert item["id"] == 92  # 90 items were built
    assert (item["unit_cost"], item["item_price"], item["quantity"]) == (1000.5, 1500.0, "2.5")
    assert (item["category_id"], item["online"], item["sku"]) == (1, 1, None)
    first = await send(client, "POST", ITEMS_ADD, ITEM_BODY, 201)
    assert first["data"]["item"]["quantity"] == "20"
    assert list(item) == list(sb.records("items")[0])


async def test_add_sale_stores_money_and_customer_id_as_strings(make_xtrakit):
    """A sale's money fields and customer_id are strings, as in the list; the rest is derived."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    body = await send(client, "POST", SALES_ADD, SALE_BODY, expect=201)
    assert body["message"] == "Sale added"
    sale = body["data"]["sale"]
    assert sale["id"] == 151
    assert (sale["invoice_code"], sale["invoice_number"]) == ("042424", "INV-LOCAL-1")
    assert sale["customer_id"] == "7"
    assert (sale["sub_total_amount"], sale["total_amount"], sale["amount_paid"]) == (
        "200.00",
        "230.50",
        "100.00",
    )
    assert (sale["discount_amount"], sale["tax_amount"]) == ("0.00", "0.00")
    assert (sale["payment_status"], sale["payment_date"], sale["due_date"]) == (
        "partial",
        "2025-07-01",
        "2025-07-01",
    )
    assert list(sale) == list(sb.records("sales")[0])
    draft = SALE_BODY | {"invoice_code": 100001, "amount_paid": "0"}
    made = (await send(client, "POST", SALES_ADD, draft, expect=201))["data"]["sale"]
    assert (made["invoice_code"], made["payment_status"], made["payment_date"]) == (
        "100001",
        "draft",
        None,
    )
    given = SALE_BODY | {
        "invoice_code": "100002",
        "amount_paid": "230.50",
        "discount_amount": 1.005,
        "payment_date": "2025-06-30",
        "due_date": "2025-07-31",
        "invoice_type": "order",
    }
    made = (await send(client, "POST", SALES_ADD, given, expect=201))["data"]["sale"]
    assert (made["payment_status"], made["discount_amount"]) == ("paid", "1.01")
    assert (made["payment_date"], made["due_date"], made["invoice_type"]) == (
        "2025-06-30",
        "2025-07-31",
        "order",
    )


REQUIRED = [
    (CUSTOMERS_ADD, CUSTOMER_BODY, "customers"),
    (ITEMS_ADD, ITEM_BODY, "items"),
    (SALES_ADD, SALE_BODY, "sales"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [(path, body, field) for path, body, _ in REQUIRED for field in body],
)
async def test_each_required_field_missing_is_400(make_xtrakit, path, body, field):
    """Leaving out any documented required field → 400 with Laravel's message; nothing added."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    before = {name: len(sb.records(name)) for _, _, name in REQUIRED}
    partial = {name: value for name, value in body.items() if name != field}
    answer = await send(client, "POST", path, partial, expect=400)
    attribute = field.replace("_", " ")
    assert answer == {"status": 400, "message": f"The {attribute} field is required.", "data": None}
    blank = await send(client, "POST", path, body | {field: "  "}, expect=400)
    assert blank["message"] == f"The {attribute} field is required."
    assert {name: len(sb.records(name)) for _, _, name in REQUIRED} == before
    assert sb.ledger == []


#: (add route, body changes, the 400's message after its leading "The ")
BAD_VALUES = [
    (CUSTOMERS_ADD, {"customer_phone": 233201234567}, "customer phone field must be a string."),
    (
        CUSTOMERS_ADD,
        {"customer_email": "nope"},
        "customer email field must be a valid email address.",
    ),
    (
        CUSTOMERS_ADD,
        {"customer_name": "x" * 256},
        "customer name field must not be greater than 255 characters.",
    ),
    (ITEMS_ADD, {"category_id": "1.5"}, "category id field must be an integer."),
    (ITEMS_ADD, {"unit_cost": "abc"}, "unit cost field must be a number."),
    (ITEMS_ADD, {"quantity": "NaN"}, "quantity field must be a number."),
    (ITEMS_ADD, {"online": 2}, "selected online is invalid."),
    (SALES_ADD, {"invoice_code": "12345"}, "invoice code field must be 6 digits."),
    (SALES_ADD, {"invoice_type": "storefront"}, "selected invoice type is invalid."),
    (SALES_ADD, {"payment_status": "unpaid"}, "selected payment status is invalid."),
    (SALES_ADD, {"due_date": "2025-02-30"}, "due date field must be a valid date."),
    (
        SALES_ADD,
        {"total_amount": 1e13},
        "total amount field must be between -10000000000000 and 10000000000000.",
    ),
    (
        SALES_ADD,
        {"customer_id": None, "amount_paid": []},
        "customer id field is required. (and 1 more error)",
    ),
]


@pytest.mark.parametrize(("path", "changes", "message"), BAD_VALUES)
async def test_bad_values_are_400_with_a_field_message(make_xtrakit, path, changes, message):
    """Type, format and choice rules answer 400 with the first message (and a count of more)."""
    client = await make_xtrakit()
    body = {CUSTOMERS_ADD: CUSTOMER_BODY, ITEMS_ADD: ITEM_BODY, SALES_ADD: SALE_BODY}[path]
    answer = await send(client, "POST", path, body | changes, expect=400)
    assert answer == {"status": 400, "message": "The " + message, "data": None}


async def test_body_is_read_as_laravel_reads_it(make_xtrakit):
    """Forms work; a JSON body without a JSON Content-Type, or not an object, is no input."""
    client = await make_xtrakit()
    form = {name: str(value) for name, value in ITEM_BODY.items()}
    response = await client.post(ITEMS_ADD, data=form, headers=AUTH)
    assert response.status == 201
    item = (await response.json())["data"]["item"]
    assert (item["category_id"], item["unit_cost"], item["online"]) == (1, 1000.5, 1)
    not_input = (
        (b'{"customer_name": "A"', "application/json"),  # does not parse
        (b"[1]", "application/json"),  # not an object
        (b'{"customer_name": "A"}', "text/plain"),  # not declared JSON
    )
    for data, content_type in not_input:
        headers = AUTH | {"Content-Type": content_type}
        response = await client.post(CUSTOMERS_ADD, data=data, headers=headers)
        assert response.status == 400
        body = await response.json()
        assert body["message"] == "The customer name field is required. (and 5 more errors)"


async def test_put_customer_replaces_every_field(make_xtrakit, clock):
    """PUT keeps id and created_at, moves updated_at, and drops optional fields left out."""
    client = await make_xtrakit(clock=clock)
    sb = client.app[XTRAKIT_KEY]
    old = sb.records("customers")[4]
    assert old["customer_email"] is not None and old["customer_group_id"] is not None
    clock.advance(61)
    new = CUSTOMER_BODY | {"customer_name": "Renamed"}
    body = await send(client, "PUT", f"{CUSTOMERS}/{old['id']}", new)
    assert (body["status"], body["message"]) == (200, "Customer updated")
    customer = body["data"]["customer"]
    assert customer["id"] == old["id"] and customer["created_at"] == old["created_at"]
    assert customer["updated_at"] == "2025-07-01 00:01:01"
    assert customer["customer_name"] == "Renamed"
    assert (customer["customer_email"], customer["customer_group_id"]) == (None, None)
    assert sb.records("customers")[4] == customer
    assert len(sb.records("customers")) == 120


async def test_put_customer_missing_field_is_400_and_unknown_id_404(make_xtrakit):
    """A PUT needs the full required set; an unknown id is 404 even before the body is checked."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    old = sb.records("customers")[0]
    partial = {k: v for k, v in CUSTOMER_BODY.items() if k != "address1"}
    answer = await send(client, "PUT", f"{CUSTOMERS}/{old['id']}", partial, expect=400)
    assert answer["message"] == "The address1 field is required."
    assert sb.records("customers")[0] == old
    for missing in ("9999", "abc"):
        answer = await send(client, "PUT", f"{CUSTOMERS}/{missing}", {}, expect=404)
        assert answer == {"status": 404, "message": "Customer not found.", "data": None}
    assert sb.ledger == []


async def test_put_item_by_item_code_replaces_every_field(make_xtrakit):
    """PUT /inventory/items/{item_code} keeps id and item_code; an unknown code is 404."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    old = sb.records("items")[2]
    new = ITEM_BODY | {"quantity": "0", "status": "out-of-stock", "item_code": "ZZZZZZZZ"}
    body = await send(client, "PUT", f"{ITEMS}/{old['item_code']}", new)
    item = body["data"]["item"]
    assert body["message"] == "Item updated"
    assert (item["id"], item["item_code"], item["created_at"]) == (
        old["id"],
        old["item_code"],
        old["created_at"],
    )
    assert (item["quantity"], item["status"], item["sku"]) == ("0", "out-of-stock", None)
    assert sb.records("items")[2] == item
    missing = await send(client, "PUT", f"{ITEMS}/Q0000000", ITEM_BODY, expect=404)
    assert missing["message"] == "Item not found."
    lower = await send(client, "PUT", f"{ITEMS}/{old['item_code'].lower()}", ITEM_BODY, 404)
    assert lower["status"] == 404
    partial = {k: v for k, v in ITEM_BODY.items() if k != "online"}
    answer = await send(client, "PUT", f"{ITEMS}/{old['item_code']}", partial, expect=400)
    assert answer["message"] == "The online field is required."


async def test_duplicate_invoice_code_is_400(make_xtrakit):
    """An invoice_code held by a seeded or an added sale is taken; sales have no update route."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    seeded = sb.records("sales")[10]["invoice_code"]
    taken = await send(client, "POST", SALES_ADD, SALE_BODY | {"invoice_code": seeded}, 400)
    assert taken == {
        "status": 400,
        "message": "The invoice code has already been taken.",
        "data": None,
    }
    await send(client, "POST", SALES_ADD, SALE_BODY, expect=201)
    again = await send(client, "POST", SALES_ADD, SALE_BODY | {"invoice_number": "x"}, 400)
    assert again["message"] == "The invoice code has already been taken."
    assert len(sb.records("sales")) == 151
    assert (await send(client, "PUT", f"{SALES}/1", SALE_BODY, 404))["message"] == "Not Found"
    assert (await send(client, "PUT", SALES_ADD, SALE_BODY, 405))["status"] == 405


async def test_deletes_are_permanent(make_xtrakit):
    """DELETE answers 200 (envelope) or 204 (no body); the record is gone; again → 404."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    customer_id = sb.records("customers")[3]["id"]
    body = await send(client, "DELETE", f"{CUSTOMERS}/{customer_id}")
    assert body == {"status": 200, "message": "Customer deleted", "data": None}
    assert customer_id not in {c["id"] for c in sb.records("customers")}
    await send(client, "DELETE", f"{CUSTOMERS}/{customer_id}", expect=404)
    await send(client, "PUT", f"{CUSTOMERS}/{customer_id}", CUSTOMER_BODY, expect=404)
    sb.config.delete_status = 204
    code = sb.records("items")[0]["item_code"]
    assert await send(client, "DELETE", f"{ITEMS}/{code}", expect=204) is None
    assert code not in {i["item_code"] for i in sb.records("items")}
    missing = await send(client, "DELETE", f"{ITEMS}/{code}", expect=404)
    assert missing["message"] == "Item not found."
    # sales are append-only: no delete route (vendors.md §4.4)
    assert (await send(client, "DELETE", f"{SALES}/1", expect=404))["message"] == "Not Found"
    assert len(sb.records("sales")) == 150
    assert (await send(client, "GET", f"{CUSTOMERS}/1", expect=405))["status"] == 405
    assert (await send(client, "POST", API + "/customers/add/x", expect=404))["status"] == 404
