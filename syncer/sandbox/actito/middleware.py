"""What every Actito request goes through: auth, licence limits, latency, error bodies, the log.

Data routes, in this order: bearer token (401), `Accept` (406), the licence's concurrency cap
(429 at once, never counted in flight), then — in flight — the calls-per-minute slow-down and the
latency knob, then the handler. The token route checks its own key (401) and `Accept` (406) and is
neither limited nor counted in flight. Control routes skip all of it and are not logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from syncer.sandbox.actito import reads
from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.state import ACTITO_KEY, ActitoSandbox
from syncer.sandbox.common.control import is_control
from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.common.wire import bearer_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def actito_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    sb = request.app[ACTITO_KEY]
    kind = _route_kind(request)
    if kind == "control":
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response(request)
    at = sb.clock()
    if kind == "token":
        token = request.headers.get("Authorization", "").strip() or None
    else:
        token = bearer_token(request)
    response: web.StreamResponse
    try:
        if kind == "token":
            response = await handler(request)
        else:
            response = await _admit(sb, request, handler, token, at)
    except ApiError as exc:
        response = exc.response(request)
    except web.HTTPException as exc:  # no such route (404) or method (405)
        message = f"No route for {request.method} {request.path}"
        response = ApiError(exc.status, message).response(request)
    except Exception as exc:
        response = ApiError(500, repr(exc)).response(request)
    sb.log(
        RequestLogEntry(
            at, request.method, request.path, dict(request.query), token, response.status
        )
    )
    return response


async def _admit(
    sb: ActitoSandbox, request: web.Request, handler: Handler, token: str | None, at: float
) -> web.StreamResponse:
    """Run a data request under the licence limits (see the module docstring for the order)."""
    refusal = sb.tokens.refusal(token, at, sb.config.api_keys)
    if refusal is not None:
        raise ApiError(401, refusal)
    reads.check_accept(request)
    config = sb.config
    if not sb.gate.enter(config.max_concurrent):
        error = ApiError(
            429, f"Too many concurrent requests: at most {config.max_concurrent} per licence"
        )
        if config.retry_after:
            error.headers["Retry-After"] = "1"
        raise error
    try:
        delay = sb.calls.throttle_ms(
            at,
            config.rate_limit,
            config.throttle_ms_per_excess_call,
            kind=config.limiter,
            burst=config.limiter_burst,
            factor=config.limit_factor,
        )
        if delay > 0:
            sb.throttled_calls += 1
            sb.throttled_ms += delay
        if delay + config.latency_ms > 0:
            await asyncio.sleep((delay + config.latency_ms) / 1000)
        return await handler(request)
    finally:
        sb.gate.leave()


def _route_kind(request: web.Request) -> str:
    """ "control", "token" or "data" (unknown paths count as data, except under `_sandbox/`).

    Decided by the matched route, not the path, so the app may be mounted under any prefix.
    """
    match = request.match_info
    if match.http_exception is not None:
        return "control" if "_sandbox" in request.path.split("/") else "data"
    if match.handler is reads.issue_token:
        return "token"
    return "control" if is_control(request) else "data"
