"""Sandbox-only control routes under `_sandbox/`: no auth, no limits, not logged."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.actito.errors import ApiError, json_response
from syncer.sandbox.actito.state import ACTITO_KEY


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[ACTITO_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did."""
    body = await _json_object(request)
    knobs = {"change_pct": 1.0, "delete_pct": 0.1, "insert_pct": 0.1}
    unknown = set(body) - set(knobs)
    if unknown:
        raise ApiError(400, f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise ApiError(400, f"{name} must be a number between 0 and 100")
        knobs[name] = float(value)
    result = request.app[ACTITO_KEY].generation(**knobs)
    return json_response(
        {
            "generation": result.generation,
            "counts": {
                "changed": len(result.changed),
                "deleted": len(result.deleted),
                "inserted": len(result.inserted),
            },
            "changed": result.changed,
            "deleted": result.deleted,
            "inserted": result.inserted,
        }
    )


async def config(request: web.Request) -> web.Response:
    """Body: an object of runtime knobs to change → their new values (400 if any is wrong)."""
    body = await _json_object(request)
    try:
        changed = request.app[ACTITO_KEY].config.apply(body)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return json_response(changed)


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
        for e in request.app[ACTITO_KEY].request_log
    ]
    return json_response(entries)


async def reset_log(request: web.Request) -> web.Response:
    request.app[ACTITO_KEY].reset_log()
    return json_response({"ok": True})


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (an empty body is `{}`)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "body must be JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


HANDLERS = frozenset({stats, generation, config, request_log, reset_log})


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`, under `/_sandbox/`."""
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/generation", generation)
    app.router.add_post("/_sandbox/config", config)
    app.router.add_post("/_sandbox/reset-log", reset_log)
    app.router.add_get("/_sandbox/log", request_log)
