"""Sandbox-only control routes under `/_sandbox/`: no auth, no rate limit, not logged."""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox.common.control import ControlJson, bad_request
from syncer.sandbox.xtrakit.api import CONTROL_ROUTE
from syncer.sandbox.xtrakit.ledger import ledger_json
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY

PREFIX = "/_sandbox"
JSON = ControlJson(bad_request=bad_request, respond=web.json_response)


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[XTRAKIT_KEY].stats())


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional) → what the generation did."""
    result = request.app[XTRAKIT_KEY].generation(**await JSON.generation_knobs(request))
    outcome = {"changed": result.changed, "deleted": result.deleted, "inserted": result.inserted}
    return web.json_response(
        {"generation": result.generation}
        | {kind: {name: len(ids) for name, ids in by.items()} for kind, by in outcome.items()}
        | {f"{kind}_ids": by for kind, by in outcome.items()}
    )


async def ledger(request: web.Request) -> web.Response:
    """`{count, ledger}`: every applied write, oldest first (`AppliedWrite` as JSON)."""
    entries = request.app[XTRAKIT_KEY].ledger
    return web.json_response({"count": len(entries), "ledger": ledger_json(entries)})


async def reset_ledger(request: web.Request) -> web.Response:
    """Empty the ledger → `{cleared: <entries removed>}`."""
    sb = request.app[XTRAKIT_KEY]
    cleared = len(sb.ledger)
    sb.reset_ledger()
    return web.json_response({"cleared": cleared})


config = JSON.config_route(lambda request: request.app[XTRAKIT_KEY].config)


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app` (named so the API middleware lets them through)."""
    app.router.add_get(PREFIX + "/stats", stats, name=CONTROL_ROUTE + "stats")
    app.router.add_post(PREFIX + "/generation", generation, name=CONTROL_ROUTE + "generation")
    app.router.add_post(PREFIX + "/config", config, name=CONTROL_ROUTE + "config")
    ledger_route = app.router.add_resource(PREFIX + "/ledger", name=CONTROL_ROUTE + "ledger")
    ledger_route.add_route("GET", ledger)
    ledger_route.add_route("DELETE", reset_ledger)
