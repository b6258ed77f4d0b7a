"""Ioto's control routes under `/_sandbox/` (the shared ones of `common.control`, and the
generation answer): refusals are `{"error"}` bodies, answers are written by orjson."""

from __future__ import annotations

import orjson
from aiohttp import web

from syncer.sandbox.common.control import ControlJson, ControlRoutes
from syncer.sandbox.common.wire import json_response
from syncer.sandbox.ioto.state import IOTO_KEY


def _bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with the body `{"error": message}`, written by orjson (compact, UTF-8)."""
    text = orjson.dumps({"error": message}).decode()
    return web.HTTPBadRequest(text=text, content_type="application/json")


JSON = ControlJson(bad_request=_bad_request, respond=json_response, parser="orjson")
ROUTES = ControlRoutes(JSON, lambda request: request.app[IOTO_KEY])


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did, with
    counts per model."""
    result = request.app[IOTO_KEY].generation(**await JSON.generation_knobs(request))
    outcome = result.outcome()
    counts = {
        model: {kind: len(keys[model]) for kind, keys in outcome.items()}
        for model in result.changed
    }
    return json_response({"generation": result.generation, "counts": counts} | outcome)


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app` (before the API's catch-all); Ioto's request log is
    read in-process only (`sb.request_log`), never over HTTP."""
    ROUTES.add_routes(app, ROUTES.standard(generation, log=False))
