"""Shared constants and helpers of the XtraKit sandbox tests."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

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
