"""The Actito write routes (vendors.md §3.4): one profile or custom record per call.

Writes are data routes like the reads: the middleware applies the token, the concurrency cap and
the per-minute slow-down. A handler validates, applies the write at once (reads see it), adds it
to the ledger, then honours the write fault knobs: `write_delay_ms`, then a 504 while
`write_fail_after_apply` counts down. Refused writes (400/403/404/409) change nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.actito import reads, write_records
from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.state import ACTITO_KEY, ActitoSandbox
from syncer.sandbox.common.wire import json_response


async def profile_post(request: web.Request) -> web.Response:
    """Create a profile (201 + `Location`), or with `allowUpdate=true` merge into its match."""
    sb = request.app[ACTITO_KEY]
    reads.profile_data(sb, request)
    info = reads.known_table(sb, "profiles", request.match_info["table"])
    allow_update = _allow_update(request.query.get("allowUpdate"))
    body = await _body(request)
    outcome = write_records.upsert_profile(
        sb.data, info, body, allow_update=allow_update, now=sb.now_moment()
    )
    return await _applied(sb, request, outcome, {"profileId": outcome.key})


async def profile_delete(request: web.Request) -> web.Response:
    """Delete the profile `{profileId}` (or `{attribute}={value}`) names → 204."""
    sb = request.app[ACTITO_KEY]
    table = reads.profile_data(sb, request)
    row = reads.find_profile(table, request.match_info["ref"])
    outcome = write_records.delete_profile(
        sb.data, row["profileId"], cascade=sb.config.cascade_deletes
    )
    return await _applied(sb, request, outcome, None)


async def record_post(request: web.Request) -> web.Response:
    """Upsert by the primary key: created 201 + `Location`, updated 200; `{"businessKey"}`."""
    sb = request.app[ACTITO_KEY]
    reads.custom_data(sb, request)
    info = reads.known_table(sb, "custom", request.match_info["table"])
    body = await _body(request)
    outcome = write_records.upsert_record(sb.data, info, body, now=sb.now_moment())
    return await _applied(sb, request, outcome, {"businessKey": outcome.key})


async def record_put(request: web.Request) -> web.Response:
    """Full update of record `{businessKey}` → 204 (404 if it does not exist)."""
    sb = request.app[ACTITO_KEY]
    reads.custom_data(sb, request)
    info = reads.known_table(sb, "custom", request.match_info["table"])
    body = await _body(request)
    key = request.match_info["key"]
    outcome = write_records.update_record(sb.data, info, key, body, now=sb.now_moment())
    return await _applied(sb, request, outcome, None)


async def record_delete(request: web.Request) -> web.Response:
    """Delete record `{businessKey}` → 204 (404 if it does not exist)."""
    sb = request.app[ACTITO_KEY]
    reads.custom_data(sb, request)
    outcome = write_records.delete_record(sb.data, request.match_info["key"])
    return await _applied(sb, request, outcome, None)


async def _applied(
    sb: ActitoSandbox, request: web.Request, outcome: write_records.Outcome, body: Any
) -> web.Response:
    """Ledger the applied write, then delay and fault it as the knobs say, then answer:
    201 + `Location` when created, else 200 with `body`, or 204 when `body` is None."""
    sb.record_write(request.method, request.path, outcome.operation, outcome.key, outcome.created)
    fail = sb.take_write_failure()
    if sb.config.write_delay_ms > 0:
        await asyncio.sleep(sb.config.write_delay_ms / 1000)
    if fail:
        raise ApiError(504, "Gateway Timeout: the write was applied but its answer was lost")
    if body is None:
        return web.Response(status=204)
    if outcome.created:
        location = {"Location": f"{request.path}/{outcome.key}"}
        return json_response(body, status=201, headers=location)
    return json_response(body)


async def _body(request: web.Request) -> Any:
    """The request's JSON body (any JSON value; the write checks its shape); 400 if not JSON."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "The body must be JSON") from exc


def _allow_update(value: str | None) -> bool:
    """`allowUpdate`: absent or `false` → False, `true` → True (any case); else 400."""
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise ApiError(400, f"allowUpdate must be true or false, not {value!r}")


def add_routes(app: web.Application) -> None:
    """Register the write routes on `app`, at its root, on both path families."""
    router = app.router
    router.add_post("/v4/entity/{entity}/table/{table}/profile", profile_post)
    router.add_delete("/v4/entity/{entity}/table/{table}/profile/{ref}", profile_delete)
    router.add_post("/v5/entities/{entity}/profile-tables/{table}/profiles", profile_post)
    router.add_delete("/v5/entities/{entity}/profile-tables/{table}/profiles/{ref}", profile_delete)
    for prefix in ("", "/custom-data"):
        records = prefix + "/v4/entity/{entity}/customTable/{table}/record"
        router.add_post(records, record_post)
        router.add_put(records + "/{key}", record_put)
        router.add_delete(records + "/{key}", record_delete)
