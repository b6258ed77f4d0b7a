"""How every Exto write route answers: the ledger entry of what it applied, then the write faults.

A write operation returns a `WriteOutcome`; `write_route` turns it into the handler aiohttp calls:

    async def upsert(request: web.Request, sb: ExtoSandbox) -> WriteOutcome: ...
    app.router.add_post(path, write_route(upsert))

When the outcome applied something, its `AppliedWrite` joins `sb.ledger`, the handler sleeps
`write_delay_ms`, and while `write_fail_after_apply` is above 0 the answer is a 504 (counting the
knob down). So a client can see a timeout or a 504 for a write that landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from syncer.sandbox.common.wire import json_response
from syncer.sandbox.exto.ledger import AppliedWrite
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from syncer.sandbox.exto.wire import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WriteOutcome:
    """What a write did and how it is answered: `body` with `status` (None: an empty body), or
    `error` when set (an all-or-nothing=False chunk applies its good rows and still answers 400).
    """

    body: Any = None
    status: int = 200
    applied: AppliedWrite | None = None
    error: ApiError | None = None


WriteOperation = Callable[[web.Request, ExtoSandbox], Awaitable[WriteOutcome]]


def applied(
    request: web.Request,
    at: float,
    operation: str,
    keys: list[str],
    *,
    inserted: int = 0,
    updated: int = 0,
    deleted: int = 0,
) -> AppliedWrite | None:
    """The ledger entry of a write to `request`, or None when it changed nothing."""
    if not (inserted or updated or deleted):
        return None
    return AppliedWrite(
        at, request.method, request.path, operation, tuple(keys), inserted, updated, deleted
    )


def write_route(operation: WriteOperation) -> Handler:
    """The aiohttp handler running `operation`, recording it in the ledger, applying the faults."""

    async def handler(request: web.Request) -> web.StreamResponse:
        sb = request.app[EXTO_KEY]
        outcome = await operation(request, sb)
        if outcome.applied is not None:
            sb.ledger.append(outcome.applied)
            # outside the data lock: a slow answer must not hold up other requests
            if sb.config.write_delay_ms > 0:
                await asyncio.sleep(sb.config.write_delay_ms / 1000)
            if sb.config.write_fail_after_apply > 0:
                sb.config.write_fail_after_apply -= 1
                raise ApiError(504, "Gateway Timeout", "The upstream service timed out.")
        if outcome.error is not None:
            raise outcome.error
        if outcome.body is None:
            return web.Response(status=outcome.status)
        return json_response(outcome.body, status=outcome.status)

    return handler
