"""The Exto middleware: what every request under `/data` goes through, in this order: bearer auth
(401), the 429 storm, the per-token rate limit (429), the URI length (414), the fault mix
(`faults`), the latency knob, then the handler; errors of any kind leave as Exto's JSON error
body, and the request is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.common.wire import bearer_token
from syncer.sandbox.exto.faults import FAULT_STATUSES, StormAnswer, fault_response
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from syncer.sandbox.exto.wire import HEALTH, PREFIX, ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: set on a request whose answer is computed only to be mangled by a "truncated" fault: the
#: read must change nothing (no churn)
DRY_READ = web.RequestKey("exto_dry_read", bool)


@web.middleware
async def exto_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, storm, rate limit, faults, latency, error bodies and the request log for everything
    under /data."""
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    sb = request.app[EXTO_KEY]
    at = sb.clock()
    health = request.path.startswith(HEALTH)
    token = None if health else bearer_token(request)
    outcome = Outcome()
    if health:
        response = await _answer(request, handler)
    else:
        try:
            response = await _data_request(request, handler, sb, token, at, outcome)
        except asyncio.CancelledError:
            # the client hung up during a "timeout" stall and aiohttp cancelled the handler (as
            # aiohttp's TestServer does; `serve` lets it run): logged as no answer
            if outcome.fault is not None:
                sb.log(_entry(request, at, token, 0, outcome.fault))
            raise
    sb.log(_entry(request, at, token, response.status if outcome.delivered else 0, outcome.fault))
    return response


def _entry(
    request: web.Request, at: float, token: str | None, status: int, fault: str | None
) -> RequestLogEntry:
    return RequestLogEntry(
        at, request.method, request.path, dict(request.query), token, status, fault
    )


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer, errors of any kind turned into Exto's error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response(request)
    except web.HTTPException as exc:  # no such route (404) or method (405)
        summary = exc.reason or "Error"
        detail = f"Cannot {request.method} {request.path.removeprefix(PREFIX)}"
        return ApiError(exc.status, summary, detail).response(request)
    except Exception as exc:
        return ApiError(500, "Service Exception", repr(exc)).response(request)


@dataclass
class Outcome:
    """What the request log needs to know of a data request besides its answer: the fault
    injected ("storm" for a storm 429) and whether an answer was sent (False: logged as 0)."""

    fault: str | None = None
    delivered: bool = True


@dataclass(frozen=True)
class Verdict:
    """What happens to one data request, decided on arrival: a refusal (401, 429), a storm 429
    (`refusal` and `storm` set), a fault kind, or nothing (the handler answers)."""

    refusal: ApiError | None = None
    storm: StormAnswer | None = None
    fault: str | None = None


async def _data_request(
    request: web.Request,
    handler: Handler,
    sb: ExtoSandbox,
    token: str | None,
    at: float,
    outcome: Outcome,
) -> web.StreamResponse:
    """The answer to a non-health request under /data; `outcome` learns the fault injected and
    whether an answer reaches the client."""
    if token is not None:
        sb.faults.arrived(token, at)
    verdict = _verdict(sb, token, at, request.raw_path)
    outcome.fault = "storm" if verdict.storm is not None else verdict.fault
    if sb.config.latency_ms > 0:
        await asyncio.sleep(sb.config.latency_ms / 1000)
    if verdict.refusal is not None:
        return _refuse(request, sb, token, verdict)
    fault = verdict.fault
    if fault is None:
        return await _answer(request, handler)
    if fault in FAULT_STATUSES:
        error = ApiError(int(fault), FAULT_STATUSES[fault], _FAULT_DETAIL[fault])
        return error.response(request)
    if fault == "reset":
        # no answer at all: aiohttp's attempt to write the returned response to the aborted
        # transport fails quietly (a ConnectionError it ignores), so nothing reaches the client
        if request.transport is not None:
            request.transport.abort()
        outcome.delivered = False
        return web.Response(status=500)
    if fault == "timeout":
        await asyncio.sleep(sb.config.fault_timeout_ms / 1000)
        if request.transport is None or request.transport.is_closing():
            # the client gave up: nothing is answered, nothing is read or written
            outcome.delivered = False
            return web.Response(status=500)
        return await _answer(request, handler)
    normal = None
    if fault == "truncated" and request.method == "GET":
        request[DRY_READ] = True
        answer = await _answer(request, handler)
        normal = answer if isinstance(answer, web.Response) else None
    return fault_response(fault, normal)


def _verdict(sb: ExtoSandbox, token: str | None, at: float, request_target: str) -> Verdict:
    """Decide, in this order: 401 for a missing, unknown or revoked token; a storm 429; 429 when
    the token's window is full; 414 for a request target (path and query) longer than
    `max_url_chars` (it counted in the window); an HTML page while `html_next` counts down; a
    fault of the mix. A request that passes them all counts `revoke_after` down."""
    config = sb.config
    if token is None or token not in config.tokens or token in config.revoked_tokens:
        return Verdict(ApiError(401, "Unauthorized", "Invalid authentication token."))
    storm = sb.faults.storm(config)
    if storm is not None:
        return Verdict(ApiError(429, "TOO MANY REQUESTS", "Rate limit exceeded."), storm)
    limit = config.rate_limit
    if not sb.limiter.admit(token, config.limit_rule(1.0), now=at):
        error = ApiError(429, "TOO MANY REQUESTS", f"Rate limit exceeded: {limit} per second.")
        if config.retry_after:
            error.headers["Retry-After"] = "1"
        return Verdict(error)
    if too_long(request_target, config.max_url_chars):
        return Verdict(
            ApiError(
                414,
                "URI Too Long",
                f"The request URI is longer than {config.max_url_chars} characters.",
            )
        )
    if config.html_next > 0:  # a maintenance page that persists (docs/sandbox.md)
        config.html_next -= 1
        return Verdict(fault="html")
    fault = sb.faults.fault(config)
    if fault is None and config.revoke_after > 0:
        config.revoke_after -= 1
        if config.revoke_after == 0:
            config.revoked_tokens = (*config.revoked_tokens, *config.tokens)
    return Verdict(fault=fault)


def _refuse(
    request: web.Request, sb: ExtoSandbox, token: str | None, verdict: Verdict
) -> web.Response:
    """The refusal's error body; a Retry-After it carries is noted against the token (on the
    sandbox clock, as the answer leaves)."""
    error = verdict.refusal
    assert error is not None
    if token is not None:
        sent = sb.clock()
        if verdict.storm is not None:
            value, delay = verdict.storm.header(sb.faults.wall())
            if value is not None:
                error.headers["Retry-After"] = value
            sb.faults.retry_after_sent(token, sent, delay)
        elif "Retry-After" in error.headers:
            sb.faults.retry_after_sent(token, sent, float(error.headers["Retry-After"]))
    return error.response(request)


def too_long(target: str, most: int) -> bool:
    """Whether a request target breaks the `max_url_chars` limit (0: no limit)."""
    return most > 0 and len(target) > most


_FAULT_DETAIL = {
    "500": "Internal server error.",
    "502": "The upstream service did not answer.",
    "503": "The service is temporarily unavailable.",
}
