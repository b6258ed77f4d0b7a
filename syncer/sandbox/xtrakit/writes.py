"""The XtraKit write routes (vendors.md §4.4, §6.3): add, edit (full replacement) and delete.

One record per call; no upsert. The middleware in `reads` has already applied auth, the rate limit,
the suspended switch and latency. A write that changes the data does so at once (lists see it on
the next request), is entered in `sb.ledger`, waits `write_delay_ms`, and is answered: 201 for an
add, 200 for an edit, `delete_status` for a delete, or 500 while `write_fail_after_apply` counts
down. A write refused (400, 404) changes nothing and is not in the ledger.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiohttp import web

from syncer.sandbox.xtrakit.data import Table
from syncer.sandbox.xtrakit.errors import ApiError, envelope
from syncer.sandbox.xtrakit.forms import (
    CUSTOMER,
    ITEM,
    SALE,
    money,
    quantity,
    read_input,
    validate,
)
from syncer.sandbox.xtrakit.reads import API
from syncer.sandbox.xtrakit.records import Record, day, timestamp
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY, XtraKitSandbox

ZERO = Decimal(0)


async def add_customer(request: web.Request) -> web.Response:
    """`POST /customers/add` → 201, `data.customer` = the new record with a new id."""
    sb = request.app[XTRAKIT_KEY]
    values = validate(CUSTOMER, await read_input(request))
    table = sb.table("customers")
    now = timestamp(sb.write_time())
    (id_,) = table.take_ids(1)
    record = _customer(sb, id_, values, now, now)
    table.insert([record])
    response = envelope(201, "Customer added", {"customer": record})
    return await _answer(request, "customer.add", str(id_), response)


async def edit_customer(request: web.Request) -> web.Response:
    """`PUT /customers/{id}` → 200, `data.customer`; the body replaces every field."""
    sb = request.app[XTRAKIT_KEY]
    values = await read_input(request)
    table = sb.table("customers")
    old = _customer_by_id(table, request.match_info["id"])
    record = _customer(
        sb, old["id"], validate(CUSTOMER, values), old["created_at"], timestamp(sb.write_time())
    )
    table.replace([record])
    response = envelope(200, "Customer updated", {"customer": record})
    return await _answer(request, "customer.edit", str(old["id"]), response)


async def delete_customer(request: web.Request) -> web.Response:
    """`DELETE /customers/{id}` → `delete_status`; the record is gone for good."""
    table = request.app[XTRAKIT_KEY].table("customers")
    id_ = _customer_by_id(table, request.match_info["id"])["id"]
    table.delete([id_])
    return await _answer(request, "customer.delete", str(id_), _deleted(request, "Customer"))


async def add_item(request: web.Request) -> web.Response:
    """`POST /inventory/items/add` → 201, `data.item` with a new id and a fresh `item_code`."""
    sb = request.app[XTRAKIT_KEY]
    values = validate(ITEM, await read_input(request))
    table = sb.table("items")
    now = timestamp(sb.write_time())
    (id_,) = table.take_ids(1)
    code = sb.data.account.item_code(sb.write_rng)
    record = _item(id_, code, values, now, now)
    table.insert([record])
    response = envelope(201, "Item added", {"item": record})
    return await _answer(request, "item.add", code, response)


async def edit_item(request: web.Request) -> web.Response:
    """`PUT /inventory/items/{item_code}` → 200, `data.item`; the body replaces every field."""
    sb = request.app[XTRAKIT_KEY]
    values = await read_input(request)
    table = sb.table("items")
    old = _item_by_code(table, request.match_info["item_code"])
    now = timestamp(sb.write_time())
    record = _item(old["id"], old["item_code"], validate(ITEM, values), old["created_at"], now)
    table.replace([record])
    response = envelope(200, "Item updated", {"item": record})
    return await _answer(request, "item.edit", record["item_code"], response)


async def delete_item(request: web.Request) -> web.Response:
    """`DELETE /inventory/items/{item_code}` → `delete_status`; the record is gone for good."""
    table = request.app[XTRAKIT_KEY].table("items")
    old = _item_by_code(table, request.match_info["item_code"])
    table.delete([old["id"]])
    return await _answer(request, "item.delete", old["item_code"], _deleted(request, "Item"))


async def add_sale(request: web.Request) -> web.Response:
    """`POST /sales/add` → 201, `data.sale`; 400 when the `invoice_code` is taken."""
    sb = request.app[XTRAKIT_KEY]
    table = sb.table("sales")
    codes = sb.data.account.invoice_codes

    def taken(code: str) -> bool:
        # `codes` holds every code ever issued; only a live sale's code is taken (unique rule)
        return code in codes and any(sale["invoice_code"] == code for sale in table.ordered())

    values = validate(SALE, await read_input(request), taken={"invoice_code": taken})
    (id_,) = table.take_ids(1)
    record = _sale(sb, id_, values, sb.write_time())
    table.insert([record])
    codes.add(record["invoice_code"])
    response = envelope(201, "Sale added", {"sale": record})
    return await _answer(request, "sale.add", record["invoice_code"], response)


async def _answer(
    request: web.Request, operation: str, key: str, response: web.Response
) -> web.Response:
    """Ledger the applied write, wait `write_delay_ms`, then send `response` (or a 500)."""
    sb = request.app[XTRAKIT_KEY]
    fail = sb.applied(request.method, request.path, operation, key)
    if sb.config.write_delay_ms > 0:
        await asyncio.sleep(sb.config.write_delay_ms / 1000)
    if fail:
        raise ApiError(500, "Server Error")
    return response


def _deleted(request: web.Request, entity: str) -> web.Response:
    """A delete's answer: 200 with the envelope (`data: null`) or 204 with no body."""
    if request.app[XTRAKIT_KEY].config.delete_status == 204:
        return web.Response(status=204)
    return envelope(200, f"{entity} deleted", None)


def _customer_by_id(table: Table, text: str) -> Record:
    """The live customer `text` names (an integer id), else 404."""
    try:
        return table.rows[int(text)]
    except (ValueError, KeyError):
        raise ApiError(404, "Customer not found.") from None


def _item_by_code(table: Table, code: str) -> Record:
    """The live item whose `item_code` is exactly `code`, else 404."""
    for record in table.ordered():
        if record["item_code"] == code:
            return record
    raise ApiError(404, "Item not found.")


def _customer(
    sb: XtraKitSandbox, id_: int, values: dict[str, Any], created: str, updated: str
) -> Record:
    """A customer as the list serves it, from validated `values`."""
    account = sb.data.account
    return {
        "id": id_,
        "user_id": account.user_id,
        "business_code": account.business_code,
        "customer_group_id": values["customer_group_id"],
        "customer_name": values["customer_name"],
        "customer_email": values["customer_email"],
        "customer_phone": values["customer_phone"],
        "customer_country": values["customer_country"],
        "customer_city": values["customer_city"],
        "customer_state": values["customer_state"],
        "address1": values["address1"],
        "created_at": created,
        "updated_at": updated,
    }


def _item(id_: int, code: str, values: dict[str, Any], created: str, updated: str) -> Record:
    """An item as the list serves it: money as JSON numbers, `quantity` as a string."""
    return {
        "id": id_,
        "item_code": code,
        "item_name": values["item_name"],
        "category_id": values["category_id"],
        "unit": values["unit"],
        "unit_cost": float(values["unit_cost"]),
        "item_price": float(values["item_price"]),
        "quantity": quantity(values["quantity"]),
        "online": values["online"],
        "status": values["status"],
        "sku": values["sku"],
        "created_at": created,
        "updated_at": updated,
    }


def _sale(sb: XtraKitSandbox, id_: int, values: dict[str, Any], now: int) -> Record:
    """A sale as the list serves it: money and `customer_id` as strings.

    Left out: discount and tax are 0.00; `payment_status` follows `amount_paid` (0 → draft,
    below the total → partial, else paid); `payment_date` is today unless nothing was paid;
    `due_date` is today.
    """
    account = sb.data.account
    paid, total = values["amount_paid"], values["total_amount"]
    status = values["payment_status"] or (
        "draft" if paid == 0 else "partial" if paid < total else "paid"
    )
    return {
        "id": id_,
        "user_id": account.user_id,
        "business_code": account.business_code,
        "invoice_code": values["invoice_code"],
        "invoice_number": values["invoice_number"],
        "customer_id": str(values["customer_id"]),
        "invoice_type": values["invoice_type"],
        "payment_type": values["payment_type"],
        "sub_total_amount": money(values["sub_total_amount"]),
        "discount_amount": money(values["discount_amount"] or ZERO),
        "tax_amount": money(values["tax_amount"] or ZERO),
        "total_amount": money(total),
        "payment_status": status,
        "amount_paid": money(paid),
        "payment_date": values["payment_date"] or (None if paid == 0 else day(now)),
        "due_date": values["due_date"] or day(now),
        "created_at": timestamp(now),
        "updated_at": timestamp(now),
    }


def add_routes(app: web.Application) -> None:
    """Register the write routes on `app` (sales have no edit or delete route: append-only)."""
    router = app.router
    router.add_post(API + "/customers/add", add_customer, name="xtrakit.customers_add")
    customer = router.add_resource(API + "/customers/{id}", name="xtrakit.customer")
    customer.add_route("PUT", edit_customer)
    customer.add_route("DELETE", delete_customer)
    router.add_post(API + "/inventory/items/add", add_item, name="xtrakit.items_add")
    item = router.add_resource(API + "/inventory/items/{item_code}", name="xtrakit.item")
    item.add_route("PUT", edit_item)
    item.add_route("DELETE", delete_item)
    router.add_post(API + "/sales/add", add_sale, name="xtrakit.sales_add")
