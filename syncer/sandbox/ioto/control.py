"""Sandbox-only control routes under `/_sandbox/`: no auth, no throttle, not logged."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.ioto.state import IOTO_KEY

PREFIX = "/_sandbox"
_GENERATION_DEFAULTS = {"change_pct": 1.0, "delete_pct": 0.1, "insert_pct": 0.1}


async def stats(request: web.Request) -> web.Response:
    return _json(request.app[IOTO_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did."""
    body = await _json_object(request)
    unknown = set(body) - set(_GENERATION_DEFAULTS)
    if unknown:
        raise _bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    knobs = dict(_GENERATION_DEFAULTS)
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise _bad_request(f"{name} must be a number between 0 and 100")
        knobs[name] = float(value)
    result = request.app[IOTO_KEY].generation(**knobs)
    return _json(
        {
            "generation": result.generation,
            "counts": {
                model: {
                    "changed": len(result.changed[model]),
                    "deleted": len(result.deleted[model]),
                    "inserted": len(result.inserted[model]),
                }
                for model in result.changed
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
        changed = request.app[IOTO_KEY].config.apply(body)
    except ValueError as exc:
        raise _bad_request(str(exc)) from exc
    return _json(changed)


async def reset_log(request: web.Request) -> web.Response:
    request.app[IOTO_KEY].reset_log()
    return _json({"ok": True})


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (empty body = `{}`)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad_request("body must be JSON") from exc
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _bad_request(message: str) -> web.HTTPBadRequest:
    text = orjson.dumps({"error": message}).decode()
    return web.HTTPBadRequest(text=text, content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`."""
    app.router.add_get(PREFIX + "/stats", stats)
    app.router.add_post(PREFIX + "/generation", generation)
    app.router.add_post(PREFIX + "/config", config)
    app.router.add_post(PREFIX + "/reset-log", reset_log)
