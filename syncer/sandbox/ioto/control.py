"""Sandbox-only control routes under `/_sandbox/`: no auth, no throttle, not logged."""

from __future__ import annotations

import orjson
from aiohttp import web

from syncer.sandbox.common.control import ControlJson
from syncer.sandbox.common.wire import json_response
from syncer.sandbox.ioto.ledger import ledger_entries
from syncer.sandbox.ioto.state import IOTO_KEY

PREFIX = "/_sandbox"


def _bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with the body `{"error": message}`, written by orjson (compact, UTF-8)."""
    text = orjson.dumps({"error": message}).decode()
    return web.HTTPBadRequest(text=text, content_type="application/json")


JSON = ControlJson(bad_request=_bad_request, respond=json_response, parser="orjson")


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[IOTO_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did."""
    result = request.app[IOTO_KEY].generation(**await JSON.generation_knobs(request))
    return json_response(
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


config = JSON.config_route(lambda request: request.app[IOTO_KEY].config)


async def reset_log(request: web.Request) -> web.Response:
    request.app[IOTO_KEY].reset_log()
    return json_response({"ok": True})


async def ledger(request: web.Request) -> web.Response:
    """The applied writes, oldest first: `[{at, operation, model, key, created}]`."""
    return json_response(ledger_entries(request.app[IOTO_KEY].ledger))


async def reset_ledger(request: web.Request) -> web.Response:
    request.app[IOTO_KEY].reset_ledger()
    return json_response({"ok": True})


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`."""
    app.router.add_get(PREFIX + "/stats", stats)
    app.router.add_post(PREFIX + "/generation", generation)
    app.router.add_post(PREFIX + "/config", config)
    app.router.add_post(PREFIX + "/reset-log", reset_log)
    app.router.add_get(PREFIX + "/ledger", ledger)
    app.router.add_post(PREFIX + "/reset-ledger", reset_ledger)
