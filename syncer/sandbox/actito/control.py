"""Sandbox-only control routes under `_sandbox/`: no auth, no limits, not logged."""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.ledger import ledger_entries
from syncer.sandbox.actito.state import ACTITO_KEY
from syncer.sandbox.common.control import ControlJson, log_entries
from syncer.sandbox.common.wire import json_response

#: refusals are `ApiError`s, which the Actito middleware writes as Actito error bodies
JSON = ControlJson(
    bad_request=lambda message: ApiError(400, message), respond=json_response, parser="orjson"
)


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[ACTITO_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional, 0..100) → what it did."""
    result = request.app[ACTITO_KEY].generation(**await JSON.generation_knobs(request))
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


config = JSON.config_route(lambda request: request.app[ACTITO_KEY].config)


async def request_log(request: web.Request) -> web.Response:
    """The request log: `[{at, method, path, query, token_seen, status}]` (tokens never echoed)."""
    return json_response(log_entries(request.app[ACTITO_KEY].request_log))


async def reset_log(request: web.Request) -> web.Response:
    request.app[ACTITO_KEY].reset_log()
    return json_response({"ok": True})


async def ledger(request: web.Request) -> web.Response:
    """The writes applied: `[{at, method, path, operation, key, created}]`, in order."""
    return json_response(ledger_entries(request.app[ACTITO_KEY].ledger))


async def reset_ledger(request: web.Request) -> web.Response:
    request.app[ACTITO_KEY].reset_ledger()
    return json_response({"ok": True})


HANDLERS = frozenset({stats, generation, config, request_log, reset_log, ledger, reset_ledger})


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app`, under `/_sandbox/`."""
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/generation", generation)
    app.router.add_post("/_sandbox/config", config)
    app.router.add_post("/_sandbox/reset-log", reset_log)
    app.router.add_get("/_sandbox/log", request_log)
    app.router.add_get("/_sandbox/ledger", ledger)
    app.router.add_post("/_sandbox/reset-ledger", reset_ledger)
