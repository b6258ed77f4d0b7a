"""XtraKit's read routes and the middleware every API call passes (vendors.md §4, §6.3, seed 003).

Routes sit at the app root (`/api/v1/...`); the app may be mounted as a sub-app, e.g. under
`/xtrakit`. The write routes are in `writes`. The middleware applies what every API call shares,
in this order: unknown route (404/405), bearer auth (401), the per-key rate limit (429), the
suspended-account switch (402), the latency knob, then the handler. Every answer, errors included,
is the `{status, message, data}` envelope; the request log records each one. Control routes
(`/_sandbox/...`) pass straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from syncer.sandbox.common.control import is_control
from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.common.wire import bearer_token
from syncer.sandbox.xtrakit import query
from syncer.sandbox.xtrakit.errors import ApiError, envelope
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY, XtraKitSandbox

API = "/api/v1"
#: with the `pagination` knob off, every list silently stops here
TRUNCATED_AT = 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: list path -> (collection = key under `data`, the word starting the message "<Entity> found: n")
LISTS = {
    API + "/customers": ("customers", "Customers"),
    API + "/inventory/items": ("items", "Items"),
    API + "/inventory/categories": ("categories", "Categories"),
    API + "/sales": ("sales", "Sales"),
}


@web.middleware
async def xtrakit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown routes, auth, rate limit, suspension, latency, envelopes and the request log."""
    if is_control(request):
        return await handler(request)
    sb = request.app[XTRAKIT_KEY]
    at = sb.clock()
    token = bearer_token(request)
    refusal: ApiError | None = None
    headers: dict[str, str] = {}
    try:
        headers = _gate(sb, request, token, at)
    except ApiError as exc:
        refusal = exc
    if sb.config.latency_ms > 0:
        await asyncio.sleep(sb.config.latency_ms / 1000)
    response: web.StreamResponse
    if refusal is not None:
        response = refusal.response(request)
    else:
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response(request)
        except Exception:
            response = ApiError(500, "Server Error").response(request)
        response.headers.update(headers)
    sb.log(
        RequestLogEntry(
            at, request.method, request.path, dict(request.query), token, response.status
        )
    )
    return response


def _gate(sb: XtraKitSandbox, request: web.Request, token: str | None, at: float) -> dict[str, str]:
    """Raise the refusal a request meets before its handler; else return its rate-limit headers.

    Unknown routes answer before auth, as Laravel matches routes before running route middleware.
    """
    unmatched = request.match_info.http_exception
    if unmatched is not None:
        raise ApiError(unmatched.status, unmatched.reason)
    config = sb.config
    if token is None or token not in config.api_keys:
        raise ApiError(401, "Unauthenticated")
    limit = config.rate_limit
    verdict = sb.throttle.hit(
        token,
        limit,
        now=at,
        kind=config.limiter,
        burst=config.limiter_burst,
        factor=config.limit_factor,
    )
    headers: dict[str, str] = {}
    if limit > 0 and config.rate_limit_headers:
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(verdict.remaining)}
        if not verdict.admitted:
            headers["Retry-After"] = str(verdict.retry_after)
    if not verdict.admitted:
        error = ApiError(429, "Too Many Attempts.")
        error.headers.update(headers)
        raise error
    if config.suspended:
        error = ApiError(402, "Payment required")
        error.headers.update(headers)
        raise error
    return headers


async def authenticate(request: web.Request) -> web.Response:
    """The key check: 200 with the account the key belongs to (the middleware did the checking)."""
    account = request.app[XTRAKIT_KEY].data.account
    data = {"user_id": account.user_id, "business_code": account.business_code}
    return envelope(200, "Authenticated", data)


def list_route(collection: str, entity: str) -> Handler:
    """The handler of one list: `data.<collection>` and the message "<entity> found: <n>"."""

    async def list_records(request: web.Request) -> web.Response:
        return list_page(request.app[XTRAKIT_KEY], request.query, collection, entity)

    return list_records


def list_page(
    sb: XtraKitSandbox, params: Mapping[str, str], collection: str, entity: str
) -> web.Response:
    """One page of a list, in id order; then churn, if the knobs ask for it."""
    config = sb.config
    # without pagination the API knows no paging parameters, so it ignores them entirely
    pages = (
        query.paging(params, config.default_per_page, config.max_per_page)
        if config.pagination
        else None
    )
    test = query.record_filter(collection, params)
    table = sb.table(collection)
    rows = table.ordered()
    if test is not None:
        rows = [record for record in rows if test(record)]
    data: dict[str, Any]
    if pages is not None:
        offset = pages.offset
        page = rows[offset : offset + pages.per_page]
        data = {collection: page, "pagination": pages.pagination(len(rows))}
    else:
        # the case a client must detect: no pagination object, a silent cut at 20
        offset = 0
        page = rows[:TRUNCATED_AT]
        data = {collection: page}
    response = envelope(200, f"{entity} found: {len(page)}", data)
    inserts, deletes = config.churn_inserts_per_page, config.churn_deletes_per_page
    if page and (inserts or deletes):
        sb.data.churn(table, rows, offset, inserts, deletes)
    return response


def add_routes(app: web.Application) -> None:
    """Register the XtraKit routes on `app`."""
    app.router.add_get(API + "/user/authenticate", authenticate, name="xtrakit.authenticate")
    for path, (collection, entity) in LISTS.items():
        app.router.add_get(path, list_route(collection, entity), name=f"xtrakit.{collection}")
