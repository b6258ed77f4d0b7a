"""Sandbox-only control routes under `/_sandbox/`: no auth, no rate limit, not logged."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from syncer.sandbox.state import SANDBOX_KEY

PREFIX = "/_sandbox"


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional) → what the generation did."""
    body = await _json_object(request)
    knobs = {"change_pct": 1.0, "delete_pct": 0.1, "insert_pct": 0.1}
    unknown = set(body) - set(knobs)
    if unknown:
        raise _bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise _bad_request(f"{name} must be a number between 0 and 100")
        knobs[name] = float(value)
    sb = request.app[SANDBOX_KEY]
    async with sb.data_lock:  # not while a filter scan reads the collections in a thread
        result = sb.generation(**knobs)
    return web.json_response(
        {
            "generation": result.generation,
            "changed": len(result.changed_ids),
            "deleted": len(result.deleted_ids),
            "inserted": len(result.inserted_ids),
        }
        | {name: list(ids) for name, ids in asdict(result).items() if name.endswith("_ids")}
    )


async def config(request: web.Request) -> web.Response:
    """Body: an object of runtime knobs to change → their new values (400 if any is wrong)."""
    body = await _json_object(request)
    try:
        changed = request.app[SANDBOX_KEY].config.apply(body)
    except ValueError as exc:
        raise _bad_request(str(exc)) from exc
    return web.json_response(changed)


async def request_log(request: web.Request) -> web.Response:
    """The request log: `[{at, method, path, query, token_seen, status}]` (tokens never echoed)."""
    entries = [
        {
            "at": e.at,
            "method": e.method,
            "path": e.path,
            "query": e.query,
            "token_seen": e.token is not None,
            "status": e.status,
        }
        for e in request.app[SANDBOX_KEY].request_log
    ]
    return web.json_response(entries)


async def reset_log(request: web.Request) -> web.Response:
    request.app[SANDBOX_KEY].reset_log()
    return web.json_response({"ok": True})


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (empty body = `{}`)."""
    if not await request.read():
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise _bad_request("body must be JSON") from exc
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`."""
    app.router.add_get(PREFIX + "/stats", stats)
    app.router.add_post(PREFIX + "/generation", generation)
    app.router.add_post(PREFIX + "/config", config)
    app.router.add_post(PREFIX + "/reset-log", reset_log)
    app.router.add_get(PREFIX + "/log", request_log)
