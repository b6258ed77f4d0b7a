"""Ioto's writes as push specs (vendors.md §5.4): one item per call, 8 in flight, and the
natural keys of Ioto items (Store: `deviceId` + `key`; every other model: `id`), which the
streams share.

Endpoints `store`, `devices`, `generic:<Model>`; operations:

- `upsert`: the item without its read-only fields -> `generic/create?exists=null`
- `update`: the item's key and the attributes to change -> `generic/update`
- `remove`: the item's key -> `generic/remove`
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from syncer import errors
from syncer.models import PushSpec, Request, push_spec

#: fields Ioto maintains itself (vendors.md §5.4): never sent
_READ_ONLY = ("accountId", "created", "updated")

#: Ioto's 400 texts about the request itself rather than the item (vendors.md §5.5)
_WHOLE_REQUEST = ("unknown model", "missing _type", "unknown api request", "not allowed")


def item_id(record: Any) -> str | None:
    """The key of a Device, Log, Command or any model keyed by `id`."""
    value = record.get("id")
    return value if isinstance(value, str) and value else None


def store_key(record: Any) -> str | None:
    """The key of a Store item: `[deviceId, key]` as JSON text."""
    device, key = record.get("deviceId"), record.get("key")
    if not isinstance(device, str) or not isinstance(key, str):
        return None
    return orjson.dumps([device, key]).decode()


def _whole_request(status: int | None, text: str) -> str | None:
    """An unknown model (`_type` comes from the endpoint, so every row has it), an unknown
    route, or a 404/405: about the request itself. Other 400s and a 403 for a device of
    another account are about the item."""
    low = text.lower()
    if status in (404, 405) or (status == 400 and any(w in low for w in _WHOLE_REQUEST)):
        return f"Ioto refused the request itself ({text or status}); check the endpoint's model"
    return None


def _model(endpoint: str) -> str:
    kind, _, model = endpoint.partition(":")
    if endpoint == "store":
        return "Store"
    if endpoint == "devices":
        return "Device"
    if kind != "generic" or not model:
        raise errors.ConfigError(
            f"Ioto cannot push to {endpoint!r}; use store, devices or generic:<Model>"
        )
    return model


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """The push spec for an outbox row's endpoint and operation."""
    model = _model(endpoint)
    builders: dict[str, Callable[[str, str, str], PushSpec]] = {
        "upsert": _upsert,
        "update": _update,
        "remove": _remove,
    }
    if operation not in builders:
        raise errors.ConfigError(
            f"Ioto cannot push {operation!r} to {endpoint!r}; use upsert, update or remove"
        )
    return builders[operation](endpoint, operation, model)


def _natural(model: str) -> Callable[[Any], str | None]:
    return store_key if model == "Store" else item_id


def _key_fields(model: str) -> tuple[str, ...]:
    return ("deviceId", "key") if model == "Store" else ("id",)


def _checked(model: str, row: Any, read_only: Sequence[str]) -> str | None:
    """Why a row cannot be sent: not an object, a read-only field, or no key."""
    if not isinstance(row, dict):
        return "the payload is not a JSON object"
    fixed = [f for f in read_only if f in row]
    if fixed:
        return f"read-only fields cannot be sent: {', '.join(fixed)}"
    if _natural(model)(row) is None:
        return f"the payload has no {' and '.join(_key_fields(model))} to identify the {model} item"
    return None


def _spec(endpoint: str, operation: str, model: str, **fields: Any) -> PushSpec:
    """A one-item-per-call spec; the answer `{"data": item}` carries the stored item."""
    natural = _natural(model)

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

    defaults: dict[str, Any] = {
        "key": lambda row: natural(row) or "",
        "acknowledged": lambda body, sent: (
            isinstance(body, dict) and isinstance(body.get("data"), dict)
        ),
        "lookup": lookup,
        "identify": identify,
        "returned": lambda body: [body["data"]],
    }
    return push_spec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=1,
        stream=endpoint,
        fan_out=8,
        lookup_batch=1,
        whole_request=_whole_request,
        **(defaults | fields),
    )


def _upsert(endpoint: str, operation: str, model: str) -> PushSpec:
    """`POST /tok/generic/create?exists=null`: an upsert by the item's key (vendors.md §5.4
    [A]); the answer carries the stored item."""

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {**rows[0], "_type": model}
        return Request("/tok/generic/create", {"exists": "null"}, method="POST", json=body)

    return _spec(
        endpoint,
        operation,
        model,
        request=request,
        invalid=lambda row: _checked(model, row, _READ_ONLY),
    )


def _update(endpoint: str, operation: str, model: str) -> PushSpec:
    """`POST /tok/generic/update {_type, <key>, <changed attributes>}` [I7]: the attributes
    sent change, the others stay; an item that does not exist is refused (400) and the row
    rejected. `deviceId` is read-only on update [I9], except where it is part of the key
    (Store)."""
    read_only = _READ_ONLY if model == "Store" else (*_READ_ONLY, "deviceId")

    def invalid(row: Any) -> str | None:
        if (problem := _checked(model, row, read_only)) is not None:
            return problem
        if not set(row) - set(_key_fields(model)):
            return "the update changes no attribute"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request("/tok/generic/update", method="POST", json={**rows[0], "_type": model})

    return _spec(endpoint, operation, model, request=request, invalid=invalid)


def _remove(endpoint: str, operation: str, model: str) -> PushSpec:
    """`POST /tok/generic/remove {_type, <key>}` [I7]: only the key's attributes are sent
    ("attributes sufficient to identify the item"). The answer `{"data": item}`, or
    `{"data": null}` when there was no such item [our reading], both mean it is gone; the
    mirror marks it deleted."""

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {name: rows[0][name] for name in _key_fields(model)}
        return Request("/tok/generic/remove", method="POST", json={**body, "_type": model})

    return _spec(
        endpoint,
        operation,
        model,
        request=request,
        invalid=lambda row: _checked(model, row, ()),
        acknowledged=lambda body, sent: isinstance(body, dict) and "data" in body,
        lookup=None,
        returned=None,
        deletes=True,
        # an empty path: the mirror's own key (Store items have no one field holding it)
        mirror_key=((),),
    )
