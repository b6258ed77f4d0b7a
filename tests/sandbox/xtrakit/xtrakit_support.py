"""Shared constants and helpers of the XtraKit sandbox tests."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.sandbox.json_calls import call

Client = TestClient[web.Request, web.Application]

KEY = "sandbox-xtrakit-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
API = "/api/v1"
CUSTOMERS = API + "/customers"
ITEMS = API + "/inventory/items"
CATEGORIES = API + "/inventory/categories"
SALES = API + "/sales"
#: list path -> collection key under `data`
LISTS = {CUSTOMERS: "customers", ITEMS: "items", CATEGORIES: "categories", SALES: "sales"}


async def get_body(
    client: Client,
    path: str,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    **params: str,
) -> Any:
    """GET `path` with the default key; check the status; return the decoded body."""
    response = await client.get(path, params=params, headers=AUTH if headers is None else headers)
    assert response.status == expect, (await response.text())[:300]
    return orjson.loads(await response.read())


CUSTOMERS_ADD = CUSTOMERS + "/add"
ITEMS_ADD = ITEMS + "/add"
SALES_ADD = SALES + "/add"
#: valid bodies of the three add routes: the documented required fields (vendors.md §4.4)
CUSTOMER_BODY: dict[str, Any] = {
    "customer_name": "Ama Owusu",
    "customer_phone": "+233201234567",
    "customer_country": "Ghana",
    "customer_city": "Accra",
    "customer_state": "Greater Accra",
    "address1": "12 Ring Road",
}
ITEM_BODY: dict[str, Any] = {
    "item_name": "HP Laptop",
    "category_id": 1,
    "unit": "pcs",
    "unit_cost": 1000.5,
    "item_price": 1500,
    "quantity": 20,
    "online": 1,
    "status": "in-stock",
}
SALE_BODY: dict[str, Any] = {
    "invoice_code": "042424",
    "invoice_number": "INV-LOCAL-1",
    "customer_id": 7,
    "sub_total_amount": 200,
    "total_amount": "230.5",
    "amount_paid": 100,
    "invoice_type": "pos",
    "payment_type": "cash",
}


async def send(
    client: Client,
    method: str,
    path: str,
    body: Any = None,
    expect: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    """Send `body` as JSON with the default key (`headers` replace it); check the status; return
    the decoded body (None for an empty one)."""
    return await call(
        client, method, path, body=body, expect=expect, headers=AUTH if headers is None else headers
    )
