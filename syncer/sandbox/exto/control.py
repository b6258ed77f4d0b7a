"""Exto's control routes under `/_sandbox/` (the shared ones of `common.control`, the generation
answer, `flip-types`, and the request log with each entry's fault)."""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox.common.control import ControlJson, ControlRoutes, bad_request, log_entries
from syncer.sandbox.exto.state import EXTO_KEY

JSON = ControlJson(bad_request=bad_request, respond=web.json_response)
ROUTES = ControlRoutes(JSON, lambda request: request.app[EXTO_KEY])


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional) → what the generation did."""
    knobs = await JSON.generation_knobs(request)
    sb = request.app[EXTO_KEY]
    async with sb.data_lock:  # not while a filter scan reads the collections in a thread
        result = sb.generation(**knobs)
    outcome = result.outcome()
    return web.json_response(
        {"generation": result.generation}
        | {kind: len(keys) for kind, keys in outcome.items()}
        | {f"{kind}_ids": list(keys) for kind, keys in outcome.items()}
    )


async def flip_types(request: web.Request) -> web.Response:
    """Body `{"count": N}` (N an integer >= 0) → `{generation, flipped, flipped_ids}`."""
    body = await JSON.body(request)
    unknown = set(body) - {"count"}
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad_request("count must be an integer >= 0")
    sb = request.app[EXTO_KEY]
    async with sb.data_lock:  # not while a filter scan reads the collections in a thread
        flipped = sb.flip_types(count)
    return web.json_response(
        {"generation": sb.data.generation_number, "flipped": len(flipped), "flipped_ids": flipped}
    )


async def request_log(request: web.Request) -> web.Response:
    """The request log: `[{at, method, path, query, token_seen, status, fault}]` (tokens never
    echoed)."""
    log = request.app[EXTO_KEY].request_log
    entries = log_entries(log)
    for entry, logged in zip(entries, log, strict=True):
        entry["fault"] = logged.fault
    return web.json_response(entries)


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`."""
    ROUTES.add_routes(
        app, [*ROUTES.standard(generation, log=request_log), ("POST", "/flip-types", flip_types)]
    )
