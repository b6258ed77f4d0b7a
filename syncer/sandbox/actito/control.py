"""Actito's control routes under `_sandbox/` (the shared ones of `common.control`, and the
generation answer): refusals are Actito error bodies, answers are written by orjson."""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.state import ACTITO_KEY
from syncer.sandbox.common.control import ControlJson, ControlRoutes
from syncer.sandbox.common.wire import json_response

#: refusals are `ApiError`s, which the Actito middleware writes as Actito error bodies
JSON = ControlJson(
    bad_request=lambda message: ApiError(400, message), respond=json_response, parser="orjson"
)
ROUTES = ControlRoutes(JSON, lambda request: request.app[ACTITO_KEY])


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did."""
    result = request.app[ACTITO_KEY].generation(**await JSON.generation_knobs(request))
    outcome = result.outcome()
    counts = {kind: len(keys) for kind, keys in outcome.items()}
    return json_response({"generation": result.generation, "counts": counts} | outcome)


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`, under `/_sandbox/`."""
    ROUTES.add_routes(app, ROUTES.standard(generation))
