"""The Ioto CloudAPI routes, written from Ioto's documents (vendors.md §5 and §6.4, seed 004): the
finds here, the writes in `writes`.

One catch-all handler answers every path of the app except the control routes, so the sandbox acts
the same served at the root or mounted under `/ioto`. Checks run in this order: the API Gateway
throttle (429 JSON), the latency knob, the route and method (400 text, or API Gateway's 403 JSON
behind `unknown_route_403`), the token (403 text), then the body; expired items are purged before
the route runs, and every answer is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.ioto import writes
from syncer.sandbox.ioto.errors import IotoError
from syncer.sandbox.ioto.models import MODELS, Model
from syncer.sandbox.ioto.paging import (
    PagingError,
    check_cursor,
    empty_page,
    is_gap,
    merge_options,
    parse_options,
    read_page,
)
from syncer.sandbox.ioto.state import IOTO_KEY, IotoSandbox

AUTH_FAILED = "Authentication failed"


async def dispatch(request: web.Request) -> web.Response:
    """Answer one API request and log it."""
    sb = request.app[IOTO_KEY]
    at = sb.clock()
    token = _token(request)
    #: what the log records as `query`: the raw query string until a find has merged its options
    logged = dict(request.query)
    try:
        response = await _answer(request, sb, at, token, logged)
    except IotoError as exc:
        response = exc.response(request)
    except Exception as exc:  # a sandbox bug, answered like Ioto's service errors
        response = IotoError(500, f"Service error: {exc!r}").response(request)
    sb.log(RequestLogEntry(at, request.method, request.path, logged, token, response.status))
    return response


async def _answer(
    request: web.Request, sb: IotoSandbox, at: float, token: str | None, logged: dict[str, str]
) -> web.Response:
    config = sb.config
    throttled = not sb.limiter.admit("*", config.limit_rule(1.0), now=at)
    if config.latency_ms > 0:
        await asyncio.sleep(config.latency_ms / 1000)
    if throttled:
        raise IotoError(429, "Too Many Requests", gateway=True)
    path = "/" + request.match_info["tail"]
    route = ROUTES.get(path)
    if route is None or request.method != "POST":
        if config.unknown_route_403:
            raise IotoError(403, "Missing Authentication Token", gateway=True)
        if route is None:
            raise IotoError(400, f"Unknown API request {request.method} {path}")
        raise IotoError(400, f"Method {request.method} not allowed: Ioto API calls use POST")
    if token is None or token not in config.tokens:
        raise IotoError(403, AUTH_FAILED)
    body = await _body(request)
    sb.purge_expired()
    return await route(sb, body, request.query, logged)


def _token(request: web.Request) -> str | None:
    """The token presented: `Authorization: <token>`, or `Bearer <token>` (any case)."""
    value = request.headers.get("Authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return value or None


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body is `{}`."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise IotoError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise IotoError(400, "Request body must be a JSON object")
    return body


async def device_find(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/device/find {accountId, productId?, id?}`: the account's devices, paged."""
    account = body.get("accountId")
    if not isinstance(account, str) or not account:
        raise IotoError(400, "Missing accountId: required with a CloudAPI token")
    return _find(sb, MODELS["Device"], body, query, logged)


async def generic_find(
    sb: IotoSandbox, body: dict[str, Any], query: Mapping[str, str], logged: dict[str, str]
) -> web.Response:
    """`POST /tok/generic/find {_type, deviceId?, ...}`: items of any model, paged.

    `accountId` defaults to the sandbox's one account (the seed's example sends none).
    """
    model = writes.model_of(body)
    attributes = {"accountId": sb.config.account_id} | body
    return _find(sb, model, attributes, query, logged)


def _find(
    sb: IotoSandbox,
    model: Model,
    attributes: Mapping[str, Any],
    query: Mapping[str, str],
    logged: dict[str, str],
) -> web.Response:
    """One page of `model`: the key condition from `attributes`, the rest as equality filters."""
    config = sb.config
    table = sb.data.tables[model.name]
    try:
        merged = merge_options(query, attributes.get("_params"))
        _replace(logged, {name: _text(value) for name, value in merged.items()})
        options = parse_options(merged, config.default_limit, config.max_limit)
        _replace(logged, options.logged())
        # `_type`, `_params` and hidden attributes (`_source`) are not filters
        wanted = {name: value for name, value in attributes.items() if not name.startswith("_")}
        condition = model.key_condition(wanted)
        filters = {name: value for name, value in wanted.items() if name not in condition.used}
        if options.next is not None:
            check_cursor(table, condition, options.next)
    except PagingError as exc:
        raise IotoError(400, str(exc)) from exc
    sb.pages_served += 1
    every = config.empty_page_every
    if (
        every
        and sb.pages_served % every == 0
        and options.next is not None
        and not is_gap(options.next)
    ):
        page = empty_page(options.next)
    else:
        page = read_page(
            table,
            condition,
            filters,
            options,
            filtered_ratio=config.filtered_ratio,
            bytes_cap=config.page_bytes_cap,
        )
    inserts, deletes = config.churn_inserts_per_page, config.churn_deletes_per_page
    if page.data and (inserts or deletes):
        sb.data.churn(model.name, inserts, deletes)
    return web.Response(body=page.body(), content_type="application/json")


def _replace(target: dict[str, str], values: dict[str, str]) -> None:
    target.clear()
    target.update(values)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


ROUTES: dict[str, writes.Route] = {
    "/tok/device/find": device_find,
    "/tok/generic/find": generic_find,
    **writes.ROUTES,
}


def add_routes(app: web.Application) -> None:
    """Register the catch-all API handler on `app` (after the control routes)."""
    app.router.add_route("*", "/{tail:.*}", dispatch)
