"""XtraKit's writes as push specs (vendors.md §4.4): one record per call, and no upsert.

| endpoint | operation | payload |
|---|---|---|
| `customers` | `upsert` | customer fields, with the natural key (`key:customers`, default phone) |
| `items` | `upsert` | item fields, with the natural key (`key:items`, default `sku`) |
| `sales` | `add` | a sale, with its `invoice_code` (sales are append-only) |
| `customers`, `items` | `delete` | `{id}` (customers) or `{item_code}` (items) |

Upsert emulation (§4.4 [A]): the mirror is the map from natural key to XtraKit's id. A key the
mirror holds becomes a PUT of the full field set (the mirrored record's fields, overlaid with
the payload): PUT replaces the whole record. An unknown key becomes an add (POST).

An add is not idempotent: a POST that timed out may have created the record. Before such a row
is sent again (in this push, or by the next one after a crash) the vendor is read back: sales
by their `invoice_code` filter, customers and items by listing and matching the natural key
(XtraKit has no filter for them). A record with the key and the payload's values means the row
landed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from syncer import errors
from syncer.models import Answer, Follow, Order, PushSpec, ReadBack, Request, Sender, Unapplied

#: entity -> (list path, add path, edit/delete path prefix, envelope key in `data`,
#: the field the edit and delete routes take, the fields an add or edit sends)
_ENTITIES: dict[str, tuple[str, str, str, str, str, tuple[str, ...]]] = {
    "customers": (
        "/customers",
        "/customers/add",
        "/customers/",
        "customer",
        "id",
        (
            "customer_name",
            "customer_phone",
            "customer_country",
            "customer_city",
            "customer_state",
            "address1",
            "customer_email",
            "customer_group_id",
        ),
    ),
    "items": (
        "/inventory/items",
        "/inventory/items/add",
        "/inventory/items/",
        "item",
        "item_code",
        (
            "item_name",
            "category_id",
            "unit",
            "unit_cost",
            "item_price",
            "quantity",
            "online",
            "status",
            "sku",
        ),
    ),
    "sales": ("/sales", "/sales/add", "", "sale", "id", ()),
}
_DEFAULT_KEYS = {"customers": "customer_phone", "items": "sku", "sales": "invoice_code"}
#: where an emulated upsert keeps the record it replaces (never sent as a field)
TARGET = "__xtrakit_target"
PAGE = 1000


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return None
    return str(value)


def _same(sent: Any, stored: Any) -> bool:
    """XtraKit sends money and quantities as strings or numbers (§4.3): compare numerically."""
    if sent == stored:
        return True
    try:
        return Decimal(str(sent)) == Decimal(str(stored))
    except InvalidOperation:
        return str(sent) == str(stored)


def _holds(record: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether the vendor's record carries every value the payload sent."""
    return all(_same(v, record.get(k)) for k, v in payload.items() if k != TARGET)


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    allowed = {"customers": ("upsert", "delete"), "items": ("upsert", "delete"), "sales": ("add",)}
    if operation not in allowed.get(endpoint, ()):
        raise errors.ConfigError(
            f"XtraKit cannot push {operation!r} to {endpoint!r}; use customers or items with "
            "upsert or delete, sales with add"
        )
    if operation == "delete":
        return _delete(endpoint)
    return _write(endpoint, operation, options)


#: XtraKit's 404 for a record the route names (a PUT or DELETE of a gone id)
_RECORD_GONE = re.compile(r"\b(customer|item|sale) not found")


def _whole_request(status: int | None, text: str) -> str | None:
    """A 404 or 405 that names no record is about the path itself (an add answered 404: the
    routes do not exist there, so the base URL is wrong); other errors are about the row."""
    if status in (404, 405) and not _RECORD_GONE.search(text.lower()):
        return f"XtraKit answered {status} for the path itself; check the connection's base_url"
    return None


def _unwrap(body: Any, key: str) -> dict[str, Any] | None:
    data = body.get("data") if isinstance(body, dict) else None
    record = data.get(key) if isinstance(data, dict) else None
    return record if isinstance(record, dict) else None


def _write(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    list_path, add_path, edit_path, envelope, route_key, fields = _ENTITIES[endpoint]
    natural = options.get(f"key:{endpoint}") or _DEFAULT_KEYS[endpoint]

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict):
            return "the payload is not a JSON object"
        if _text(row.get(natural)) is None:
            return f"the payload has no value for the natural key {natural!r}"
        if TARGET in row:
            return f"{TARGET} is reserved"
        return None

    def merge(row: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        if current is None or not edit_path:
            return row
        # PUT replaces the whole record: start from every field it holds now
        full = {f: current[f] for f in fields if f in current and current[f] is not None}
        return {**full, **row, TARGET: current[route_key]}

    def request(rows: list[dict[str, Any]]) -> Request:
        (row,) = rows
        body = {k: v for k, v in row.items() if k != TARGET}
        if TARGET in row:
            return Request(edit_path + quote(str(row[TARGET]), safe=""), method="PUT", json=body)
        return Request(add_path, method="POST", json=body)

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        return _text(record.get(natural)), _text(record.get(route_key))

    async def landed(
        send: Sender, rows: list[dict[str, Any]], evidences: list[Any]
    ) -> list[dict[str, Any] | None]:
        wanted = {str(r[natural]) for r in rows}
        found: dict[str, dict[str, Any]] = {}
        if endpoint == "sales":
            for code in sorted(wanted):
                query = {"invoice_code": code, "page": "1", "per_page": str(PAGE)}
                found.update(_matching(await send(Request(list_path, query)), natural, wanted))
        else:
            number = 1
            while True:
                query = {"page": str(number), "per_page": str(PAGE)}
                body = await send(Request(list_path, query))
                found.update(_matching(body, natural, wanted))
                data = body.get("data") if isinstance(body, dict) else None
                paging = data.get("pagination") if isinstance(data, dict) else None
                last = paging.get("last_page") if isinstance(paging, dict) else None
                if not isinstance(last, int) or number >= last:
                    break
                number += 1
        out: list[dict[str, Any] | None] = []
        for row in rows:
            record = found.get(str(row[natural]))
            out.append(record if record is not None and _holds(record, row) else None)
        return out

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=1,
        request=request,
        invalid=invalid,
        key=lambda row: str(row[natural]),
        answer=Answer(
            acknowledged=lambda body, sent: _unwrap(body, envelope) is not None,
            returned=lambda body: [r] if (r := _unwrap(body, envelope)) is not None else [],
            whole_request=_whole_request,
        ),
        read_back=ReadBack(identify=identify),
        unapplied=Unapplied(landed=landed),
        follow=Follow(
            stream=endpoint,
            mirror_key=((natural,),),
            merge=merge if operation == "upsert" else None,
        ),
        order=Order(names=lambda row: [((natural,), str(row[natural]))]),
    )


def _matching(body: Any, natural: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise errors.FatalVendorError("XtraKit answered a read-back without a data object")
    items: Any = next((v for k, v in data.items() if k != "pagination"), [])
    items = [items] if isinstance(items, dict) else items
    out: dict[str, dict[str, Any]] = {}
    for record in items if isinstance(items, list) else []:
        if isinstance(record, dict) and (key := _text(record.get(natural))) in wanted:
            out[str(key)] = record
    return out


def _delete(endpoint: str) -> PushSpec:
    """DELETE /customers/{id} or /inventory/items/{item_code}; a 404 means already gone."""
    _, _, edit_path, _, route_key, _ = _ENTITIES[endpoint]

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict) or _text(row.get(route_key)) is None:
            return f"a delete of {endpoint} names the record by {route_key!r}"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(edit_path + quote(str(rows[0][route_key]), safe=""), method="DELETE")

    return PushSpec(
        endpoint=endpoint,
        operation="delete",
        max_chunk=1,
        request=request,
        invalid=invalid,
        key=lambda row: str(row[route_key]),
        answer=Answer(
            acknowledged=lambda body, sent: True,
            done_statuses=frozenset({404}),
            whole_request=_whole_request,
        ),
        read_back=ReadBack(
            identify=lambda record: (_text(record.get(route_key)), _text(record.get("id")))
        ),
        follow=Follow(stream=endpoint, deletes=True, mirror_key=((route_key,),)),
        order=Order(names=lambda row: [((route_key,), str(row[route_key]))]),
    )
