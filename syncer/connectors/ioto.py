"""EmbedThis Ioto: streams as data (vendors.md §5; choices in docs/vendors/ioto.md).

Stream names: `devices`, `store`, `generic:<Model>` (e.g. `generic:Log`); every call is a POST
under /tok; the account comes from the connection's `options.account_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from syncer import errors
from syncer.auth import Auth, StaticToken
from syncer.models import Connector, PageBody, PushSpec, Request, StreamSpec


def _find(
    path: str, filters: Mapping[str, Any]
) -> Callable[[Mapping[str, str], Any, int], Request]:
    """`POST path` with the filters and `_params {limit, next}` in the body [A]."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        paging: dict[str, Any] = {"limit": size}
        if position is not None:
            paging["next"] = position
        return Request(path, method="POST", json={**filters, **params, "_params": paging})

    return page


def _items(body: Any) -> PageBody:
    """`{data: [...], next?, prev?, paged}`: keep going while `next` is there, short or empty."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise errors.FatalVendorError("Ioto answered without a data list")
    return PageBody(data, len(data), None, next_cursor=body.get("next") or None)


def _id(record: Any) -> str | None:
    value = record.get("id")
    return value if isinstance(value, str) and value else None


def _store_key(record: Any) -> str | None:
    device, key = record.get("deviceId"), record.get("key")
    if not isinstance(device, str) or not isinstance(key, str):
        return None
    return orjson.dumps([device, key]).decode()


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    account = (options or {}).get("account_id", "")
    if name == "devices":
        if not account:
            raise errors.ConfigError("Ioto stream 'devices' needs options.account_id")
        return StreamSpec(
            name=name,
            key=_id,
            extract=_items,
            page=_find("/tok/device/find", {"accountId": account}),
            paging="cursor",
            cursor_field="updated",
        )
    kind, _, model = name.partition(":")
    if name == "store" or (kind == "generic" and model):
        model = "Store" if name == "store" else model
        return StreamSpec(
            name=name,
            key=_store_key if model == "Store" else _id,
            extract=_items,
            page=_find("/tok/generic/find", {"_type": model}),
            paging="cursor",
            cursor_field="updated",
        )
    raise errors.ConfigError(f"unknown Ioto stream {name!r}; use devices, store or generic:<Model>")


def _error_summary(body: Any) -> str:
    """Ioto's errors are text/plain; JSON only from the API Gateway throttle."""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return ""


def _auth(base_url: str, token: str, fetch: Callable[..., Any]) -> Auth:
    return StaticToken("Authorization", token)  # no scheme (vendors.md §5.1)


#: fields Ioto maintains itself (vendors.md §5.4): never sent
_READ_ONLY = ("accountId", "created", "updated")


#: Ioto's 400 texts about the request itself rather than the item (vendors.md §5.5)
_WHOLE_REQUEST = ("unknown model", "missing _type", "unknown api request", "not allowed")


def _whole_request(status: int | None, text: str) -> str | None:
    """An unknown model (`_type` comes from the endpoint, so every row has it), an unknown
    route, or a 404/405: about the request itself. Other 400s and a 403 for a device of
    another account are about the item."""
    low = text.lower()
    if status in (404, 405) or (status == 400 and any(w in low for w in _WHOLE_REQUEST)):
        return f"Ioto refused the request itself ({text or status}); check the endpoint's model"
    return None


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Ioto upserts: `POST /tok/generic/create?exists=null`, one item per call, 8 in flight
    (vendors.md §5.4 [A]); the answer carries the stored item."""
    kind, _, model = endpoint.partition(":")
    if endpoint == "store":
        model = "Store"
    elif endpoint == "devices":
        model = "Device"
    elif kind != "generic" or not model:
        raise errors.ConfigError(
            f"Ioto cannot push to {endpoint!r}; use store, devices or generic:<Model>"
        )
    if operation != "upsert":
        raise errors.ConfigError(f"Ioto pushes only upserts, not {operation!r}")
    natural = _store_key if model == "Store" else _id

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict):
            return "the payload is not a JSON object"
        fixed = [f for f in _READ_ONLY if f in row]
        if fixed:
            return f"read-only fields cannot be sent: {', '.join(fixed)}"
        if natural(row) is None:
            needed = "deviceId and key" if model == "Store" else "id"
            return f"the payload has no {needed} to identify the {model} item"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(
            "/tok/generic/create",
            {"exists": "null"},
            method="POST",
            json={**rows[0], "_type": model},
        )

    def lookup(keys: Sequence[str]) -> Request:
        if model == "Store":
            device, key = orjson.loads(keys[0])
            filters: dict[str, Any] = {"_type": model, "deviceId": device, "key": key}
        else:
            filters = {"_type": model, "id": keys[0]}
        return Request("/tok/generic/find", method="POST", json=filters)

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        key = natural(record)
        return key, key

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=1,
        request=request,
        invalid=invalid,
        key=lambda row: natural(row) or "",
        acknowledged=lambda body, sent: (
            isinstance(body, dict) and isinstance(body.get("data"), dict)
        ),
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        fan_out=8,
        returned=lambda body: [body["data"]],
        lookup_batch=1,
        whole_request=_whole_request,
    )


connector = Connector(
    vendor="ioto",
    auth=_auth,
    stream=stream,
    error_summary=_error_summary,
    auth_failures=frozenset({401, 403}),
    # a 403 also answers a write to a device of another account: only "Authentication ..."
    # (or an empty body) means the token itself was refused [A]
    refuses_credential=lambda status, text: (
        status == 401 or not text or "authentication" in text.lower()
    ),
    push=push,
)
