"""XtraKit: streams as data (vendors.md §4; choices in docs/vendors/xtrakit.md).

Stream names: `customers`, `items`, `categories`, `sales`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from syncer import auth, errors
from syncer.connectors import zones
from syncer.connectors.xtrakit_push import push
from syncer.models import Connector, PageBody, Request, StreamSpec, ViewSpec

#: stream -> (list path, collection key in `data`)
_COLLECTIONS = {
    "customers": ("/customers", "customers"),
    "items": ("/inventory/items", "items"),
    "categories": ("/inventory/categories", "categories"),
    "sales": ("/sales", "sales"),
}

#: sent as strings by XtraKit (vendors.md §4.3), numbers in the typed view
_NUMERIC = frozenset(
    {
        "quantity",
        "unit_cost",
        "item_price",
        "sub_total_amount",
        "total_amount",
        "amount_paid",
        "amount_due",
        "discount",
        "discount_amount",
        "tax",
        "tax_amount",
        "customer_id",
    }
)


def _paged(path: str) -> Callable[[Mapping[str, str], Any, int], Request]:
    """Proposed Laravel paging [A]: `?page=N&per_page=M`."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        return Request(path, {**params, "page": str(position), "per_page": str(size)})

    return page


def _collection(key: str) -> Callable[[Any], PageBody]:
    """`{status, message, data: {<key>: [...] | {...}, pagination: {...}}}`."""

    def extract(body: Any) -> PageBody:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise errors.FatalVendorError("XtraKit answered without a data object")
        items = data.get(key)
        if isinstance(items, dict):
            items = [items]  # samples show a single object [A]
        if not isinstance(items, list):
            raise errors.FatalVendorError(f"XtraKit answered without data.{key}")
        pagination = data.get("pagination")
        if not isinstance(pagination, dict):
            return PageBody(items, len(items), 1, paginated=False)
        last, total = pagination.get("last_page"), pagination.get("total")
        return PageBody(
            items,
            len(items),
            last if isinstance(last, int) and not isinstance(last, bool) else None,
            total_records=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    return extract


def _id(record: Any) -> str | None:
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    if name not in _COLLECTIONS:
        raise errors.ConfigError(
            f"unknown XtraKit stream {name!r}; use {', '.join(sorted(_COLLECTIONS))}"
        )
    path, key = _COLLECTIONS[name]
    return StreamSpec(
        name=name,
        key=_id,
        extract=_collection(key),
        page=_paged(path),
        cursor_field="updated_at",
        view=ViewSpec(numeric=_NUMERIC, time_zone=zones.time_zone(options, "XtraKit")),
    )


def _error_summary(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return ""


connector = Connector(
    vendor="xtrakit",
    auth=auth.bearer,
    stream=stream,
    error_summary=_error_summary,
    auth_failures=frozenset({401}),
    account_failures=frozenset({402}),
    push=push,
)
