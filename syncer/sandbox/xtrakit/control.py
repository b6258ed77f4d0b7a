"""Sandbox-only control routes under `/_sandbox/`: no auth, no rate limit, not logged."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from syncer.sandbox.xtrakit.api import CONTROL_ROUTE
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY

PREFIX = "/_sandbox"


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[XTRAKIT_KEY].stats())


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
    result = request.app[XTRAKIT_KEY].generation(**knobs)
    outcome = {"changed": result.changed, "deleted": result.deleted, "inserted": result.inserted}
    return web.json_response(
        {"generation": result.generation}
        | {kind: {name: len(ids) for name, ids in by.items()} for kind, by in outcome.items()}
        | {f"{kind}_ids": by for kind, by in outcome.items()}
    )


async def config(request: web.Request) -> web.Response:
    """Body: an object of runtime knobs to change → their new values (400 if any is wrong)."""
    body = await _json_object(request)
    try:
        changed = request.app[XTRAKIT_KEY].config.apply(body)
    except ValueError as exc:
        raise _bad_request(str(exc)) from exc
    return web.json_response(changed)


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
    """Register the control routes on `app` (named so the API middleware lets them through)."""
    app.router.add_get(PREFIX + "/stats", stats, name=CONTROL_ROUTE + "stats")
    app.router.add_post(PREFIX + "/generation", generation, name=CONTROL_ROUTE + "generation")
    app.router.add_post(PREFIX + "/config", config, name=CONTROL_ROUTE + "config")
