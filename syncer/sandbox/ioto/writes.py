"""The Ioto CloudAPI write routes — generic create, update, remove and get — one item per call.

Written from Ioto's documents (vendors.md §5.4, §6.4, the cloud schema). A call names a model
(`_type`) and one item by its natural key: Device `id`; Store and Broadcast `deviceId` + `key`; Log
and Command `id` (a create may leave it out: the sandbox makes a ULID). Checks run in this order:
`_type`, the `exists` option, read-only attributes, key and attribute values (400 text), device
ownership (403 text), then whether the item exists (400 text). A write that changes the data is
applied and entered in the ledger; then the `write_delay_ms` and `write_fail_after_apply` faults
shape the answer, `{"data": ...}`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.common.wire import json_response
from syncer.sandbox.ioto.clock import instant_ms
from syncer.sandbox.ioto.errors import IotoError
from syncer.sandbox.ioto.items import iso, ulid
from syncer.sandbox.ioto.models import MODELS, Item, Model
from syncer.sandbox.ioto.paging import matches
from syncer.sandbox.ioto.state import IotoSandbox

#: attributes the service maintains: a create or update that sends one → 400
READ_ONLY = ("accountId", "created", "updated")
_EXISTS = {"true": True, "false": False, "null": None, "": None}


def model_of(body: Mapping[str, Any]) -> Model:
    """The model `_type` names; 400 text when it is missing or unknown."""
    name = body.get("_type")
    if name is None or name == "":
        raise IotoError(400, "Missing _type")
    if not isinstance(name, str) or name not in MODELS:
        raise IotoError(400, f"Unknown model {name}")
    return MODELS[name]


async def generic_create(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/generic/create {_type, deviceId?, ...}`, option `exists`: put one item.

    `exists` null or absent: upsert; true: the item must exist; false: it must not. The item is
    replaced whole (DynamoDB PutItem), keeping `created`.
    """
    model = model_of(body)
    exists = _exists_option(query, body, logged)
    _refuse(body, READ_ONLY)
    attributes = _attributes(model, body)
    if model.generated is not None and attributes.get(model.generated) is None:
        attributes[model.generated] = ulid(sb.now_ms(), sb.write_rng)
    natural = _natural_key(model, attributes)
    _check_required(model, attributes)
    _normalise_expires(attributes)
    _check_owner(sb, model, _device_of(model, attributes))
    prior = sb.data.tables[model.name].get(natural)
    if exists is True and prior is None:
        raise IotoError(400, f"Cannot find {model.name} {natural}: exists=true needs the item")
    if exists is False and prior is not None:
        raise IotoError(400, f"{model.name} {natural} already exists: exists=false refuses it")
    if prior is not None and prior.get("deviceId") != attributes.get("deviceId"):
        raise IotoError(400, f"Read-only attribute deviceId: {model.name} {natural} cannot move")
    now = iso(sb.now_ms())
    item = {name: attributes[name] for name in model.natural}
    item |= {"accountId": sb.config.account_id} | attributes
    for name, default in model.defaults:
        item.setdefault(name, copy.deepcopy(default))
    if model.has_created:
        item["created"] = prior.get("created", now) if prior is not None else now
    item["updated"] = now
    sb.put("create", model.name, item)
    return await _answer(sb, item, applied=True)


async def generic_update(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/generic/update {_type, <key attributes>, <changed attributes>}`: merge changes
    into one existing item (400 text when it is missing)."""
    model = model_of(body)
    _params(body)
    # deviceId identifies Store and Broadcast items; elsewhere it would move the item
    _refuse(body, READ_ONLY if "deviceId" in model.natural else (*READ_ONLY, "deviceId"))
    attributes = _attributes(model, body)
    natural = _natural_key(model, attributes)
    _normalise_expires(attributes)
    prior = sb.data.tables[model.name].get(natural)
    _check_owner(sb, model, _device_of(model, attributes, prior))
    if prior is None:
        raise IotoError(400, f"Cannot find {model.name} {natural} to update")
    changes = {name: value for name, value in attributes.items() if name not in model.natural}
    item = prior | changes | {"updated": iso(sb.now_ms())}
    _check_required(model, item)
    sb.put("update", model.name, item)
    return await _answer(sb, item, applied=True)


async def generic_remove(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/generic/remove {_type, <key attributes>}`: delete one item → `{"data": item}`,
    or `{"data": null}` when there is none (nothing changes)."""
    model, natural, _, item = _identify(sb, body)
    if item is None:
        return await _answer(sb, None, applied=False)
    return await _answer(sb, sb.remove(model.name, natural), applied=True)


async def generic_get(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/generic/get {_type, <key attributes>, <attribute>: <value>...}`: one item by
    its key → `{"data": item}`; `{"data": null}` when there is none or it fails a filter."""
    model, _, attributes, item = _identify(sb, body)
    filters = {
        name: value
        for name, value in attributes.items()
        if name not in model.natural and name != "deviceId"
    }
    if item is not None and not matches(item, filters):
        item = None
    return json_response({"data": item})


def _identify(
    sb: IotoSandbox, body: dict[str, Any]
) -> tuple[Model, str, dict[str, Any], Item | None]:
    """The model, natural key, attributes and live item (None if absent) a remove or get names.

    A `deviceId` beside a Log or Command `id` must own the item, else there is none.
    """
    model = model_of(body)
    _params(body)
    attributes = _attributes(model, body)
    natural = _natural_key(model, attributes)
    item = sb.data.tables[model.name].get(natural)
    _check_owner(sb, model, _device_of(model, attributes, item))
    if item is not None and "deviceId" in attributes and item["deviceId"] != attributes["deviceId"]:
        item = None
    return model, natural, attributes, item


def _exists_option(
    query: Mapping[str, str], body: Mapping[str, Any], logged: dict[str, str]
) -> bool | None:
    """`exists` from the query string, else from `_params` (absent = null); the request log
    records the one used (`{}` when absent)."""
    params = _params(body)
    logged.clear()
    if "exists" in query:
        value: Any = query["exists"]
    elif "exists" in params:
        value = params["exists"]
    else:
        return None
    logged["exists"] = value if isinstance(value, str) else orjson.dumps(value).decode()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and value in _EXISTS:
        return _EXISTS[value]
    raise IotoError(400, "Invalid exists option: use true, false or null")


def _params(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's `_params` object ({} when absent); 400 text when it is not an object."""
    params = body.get("_params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise IotoError(400, "_params must be an object")
    return params


def _refuse(body: Mapping[str, Any], read_only: tuple[str, ...]) -> None:
    sent = [name for name in read_only if name in body]
    if sent:
        raise IotoError(400, f"Read-only attributes cannot be written: {', '.join(sent)}")


def _attributes(model: Model, body: Mapping[str, Any]) -> dict[str, Any]:
    """The item attributes a body carries: request fields (`_type`, `_params`) and hidden ones
    (`_source`) left out. A Device is its own device: `deviceId`, if sent, must equal `id`."""
    attributes = {name: value for name, value in body.items() if not name.startswith("_")}
    if model.name == "Device" and "deviceId" in attributes:
        device_id = attributes.pop("deviceId")
        if device_id != attributes.get("id"):
            raise IotoError(400, "deviceId must equal id for a Device")
    device_id = attributes.get("deviceId")
    if "deviceId" in attributes and (not isinstance(device_id, str) or not device_id):
        raise IotoError(400, "deviceId must be a non-empty string")
    return attributes


def _natural_key(model: Model, attributes: Mapping[str, Any]) -> str:
    """The natural key the attributes name; 400 text unless each part is a non-empty string."""
    for name in model.natural:
        value = attributes.get(name)
        if value is None:
            raise IotoError(400, f"Missing key attribute {name} for {model.name}")
        if not isinstance(value, str) or not value:
            raise IotoError(400, f"Key attribute {name} must be a non-empty string")
    return model.natural_key(attributes)


def _normalise_expires(attributes: dict[str, Any]) -> None:
    """`expires` (ISO date with a zone, Unix s or ms, or null) as an ISO date in ms; 400 text when
    it is not a date."""
    if "expires" not in attributes:
        return
    try:
        ms = instant_ms(attributes["expires"])
    except ValueError:
        raise IotoError(400, "Invalid expires: use an ISO-8601 date, a Unix time or null") from None
    attributes["expires"] = None if ms is None else iso(ms)


def _device_of(model: Model, attributes: Mapping[str, Any], item: Item | None = None) -> str | None:
    """The device that owns the item: a Device's own id; else `deviceId` as sent, or the stored
    item's."""
    if model.name == "Device":
        return str(attributes["id"])
    device_id = attributes.get("deviceId")
    if device_id is None and item is not None:
        device_id = item.get("deviceId")
    return device_id if isinstance(device_id, str) else None


def _check_owner(sb: IotoSandbox, model: Model, device_id: str | None) -> None:
    """403 text unless the account claims `device_id`. A Device write or read may name any id
    but another account's (a create of a new id claims it)."""
    if device_id is None:
        return
    if device_id in sb.config.foreign_devices or (
        model.name != "Device" and not sb.claimed(device_id)
    ):
        raise IotoError(403, f"Device {device_id} is not claimed by this account")


def _check_required(model: Model, item: Item) -> None:
    for name in model.required:
        if item.get(name) is None:
            raise IotoError(400, f"Missing required attribute {name} for {model.name}")


async def _answer(sb: IotoSandbox, data: Any, *, applied: bool) -> web.Response:
    """`{"data": data}` after the write faults: `write_fail_after_apply` turns the answer to an
    applied write into a 500 text (its count drops at once); `write_delay_ms` waits first."""
    config = sb.config
    fail = applied and config.write_fail_after_apply > 0
    if fail:
        config.write_fail_after_apply -= 1
    if config.write_delay_ms > 0:
        await asyncio.sleep(config.write_delay_ms / 1000)
    if fail:
        raise IotoError(500, "Service error: the write was applied but its answer failed")
    return json_response({"data": data})


Route = Callable[
    [IotoSandbox, dict[str, Any], Mapping[str, str], dict[str, str]], Awaitable[web.Response]
]

ROUTES: dict[str, Route] = {
    "/tok/generic/create": generic_create,
    "/tok/generic/update": generic_update,
    "/tok/generic/remove": generic_remove,
    "/tok/generic/get": generic_get,
}
