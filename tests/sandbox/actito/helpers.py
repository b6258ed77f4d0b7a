"""Paths and small helpers shared by the Actito sandbox tests."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from syncer.sandbox.actito import ACTITO_KEY, ActitoSandbox

KEY = "sandbox-actito-key"
TOKEN = "/auth/token"
PROFILES = "/v5/entities/sandbox/profile-tables/customers/profiles"
RECORDS = "/v5/entities/sandbox/custom-tables/orders/records"
V4_PROFILE = "/v4/entity/sandbox/table/customers/profile/"
V4_RECORDS = "/v4/entity/sandbox/customTable/orders/record"
#: the v4 profile write path (POST; DELETE `/{profileId}`)
V4_PROFILES = "/v4/entity/sandbox/table/customers/profile"

Client = TestClient[web.Request, web.Application]


def sandbox(client: Client) -> ActitoSandbox:
    return client.app[ACTITO_KEY]


async def bearer(client: Client, key: str = KEY, prefix: str = "") -> dict[str, str]:
    """Authorization headers carrying a fresh token for `key`."""
    response = await client.get(prefix + TOKEN, headers={"Authorization": key})
    assert response.status == 200, await response.text()
    token = orjson.loads(await response.read())["accessToken"]
    return {"Authorization": f"Bearer {token}"}


async def get_json(
    client: Client, path: str, headers: dict[str, str], **params: str
) -> tuple[int, Any]:
    response = await client.get(path, headers=headers, params=params)
    return response.status, orjson.loads(await response.read())


async def scan(
    client: Client, path: str, headers: dict[str, str], wrapper: str, limit: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Read a list to its end; return the rows and the size of each page (the last is short)."""
    rows: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": str(limit)} | ({"searchAfter": cursor} if cursor else {})
        status, body = await get_json(client, path, headers, **params)
        assert status == 200, body
        rows.extend(body[wrapper])
        sizes.append(len(body[wrapper]))
        cursor = body["searchAfter"]
        if cursor is None:
            return rows, sizes
        assert len(sizes) < 10_000, "paging does not end"


def values(row: dict[str, Any]) -> dict[str, Any]:
    """A profile's attributes or a record's properties as a dict."""
    return {pair["name"]: pair["value"] for pair in row.get("attributes", row.get("properties"))}


async def send(
    client: Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
    **params: str,
) -> tuple[int, Any]:
    """A write call: its status and JSON body (None for an empty body, e.g. 204)."""
    response = await client.request(method, path, headers=headers, json=body, params=params)
    raw = await response.read()
    return response.status, orjson.loads(raw) if raw else None


def pairs(**fields: Any) -> list[dict[str, Any]]:
    """`name=value` keywords as an Actito `[{name, value}]` list."""
    return [{"name": name, "value": value} for name, value in fields.items()]


#: the key of the order `order_body()` writes (not in the generated data)
ORDER_KEY = "ORD-0000000000900001"


def profile_body(
    email: str = "new.person@example.com", customer: str = "C-90001"
) -> dict[str, Any]:
    """A profile write with every mandatory attribute, one optional one, and the Newsletter."""
    return {
        "attributes": pairs(
            emailAddress=email,
            customerId=customer,
            firstName="Ada",
            lastName="Lovelace",
            motherLanguage="EN",
            loyaltyPoints=10,
        ),
        "subscriptions": [{"name": "Newsletter", "subscribe": True}],
        "dataCollectionInformation": {"source": "syncer", "way": "API"},
    }


def order_body(key: str = ORDER_KEY, **changes: Any) -> dict[str, Any]:
    """A custom record write with every mandatory property but the two moments."""
    fields = {
        "orderId": key,
        "customerId": "C-00001",
        "amount": 12.5,
        "currency": "EUR",
        "status": "NEW",
    }
    return {"properties": pairs(**(fields | changes))}
