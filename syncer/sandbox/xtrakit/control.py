"""XtraKit's control routes under `/_sandbox/` (the shared ones of `common.control`, the
generation answer, and the ledger as `{count, ledger}`, emptied by `DELETE`)."""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox.common.control import ControlJson, ControlRoutes, bad_request
from syncer.sandbox.common.ledger import ledger_json
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY

JSON = ControlJson(bad_request=bad_request, respond=web.json_response)
ROUTES = ControlRoutes(JSON, lambda request: request.app[XTRAKIT_KEY])


async def generation(request: web.Request) -> web.Response:
    """Body `{change_pct, delete_pct, insert_pct}` (each optional) → what the generation did."""
    result = request.app[XTRAKIT_KEY].generation(**await JSON.generation_knobs(request))
    outcome = result.outcome()
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


def add_routes(app: web.Application) -> None:
    """Register the control routes on `app` (named, so the API middleware lets them through)."""
    ROUTES.add_routes(
        app,
        [
            ("GET", "/stats", ROUTES.stats),
            ("POST", "/generation", generation),
            ("POST", "/config", ROUTES.config),
            ("GET", "/ledger", ledger),
            ("DELETE", "/ledger", reset_ledger),
        ],
    )
