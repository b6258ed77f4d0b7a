"""The `/_sandbox/` control routes, written once for the four vendors: no auth, no limits, not
logged. `ControlJson` reads and refuses bodies the vendor's way; `ControlRoutes` holds the routes
every vendor has (stats, config, the request log, the ledger) and registers a vendor's list of
routes, each named so that the vendor's middleware lets it through (`is_control`). Each vendor's
`control.py` adds its generation answer (and Exto its `flip-types`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from aiohttp import web

from syncer.sandbox.common.ledger import ledger_json
from syncer.sandbox.common.requestlog import RequestLogEntry

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: a control route: (HTTP method, path under `PREFIX`, handler)
Route = tuple[str, str, Handler]

#: where every vendor's control routes sit, under the vendor's own mount prefix
PREFIX = "/_sandbox"
#: the names of control routes start with this (`is_control`)
ROUTE_NAME = "sandbox_control."

#: the body fields of `POST /_sandbox/generation` and their values when left out
GENERATION_DEFAULTS: Mapping[str, float] = {"change_pct": 1.0, "delete_pct": 0.1, "insert_pct": 0.1}


class Reconfigurable(Protocol):
    """A sandbox config whose runtime knobs `POST /_sandbox/config` changes."""

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]: ...


class Controlled(Protocol):
    """What the shared control routes ask of a vendor's sandbox."""

    @property
    def config(self) -> Reconfigurable: ...
    @property
    def request_log(self) -> Sequence[RequestLogEntry]: ...
    @property
    def ledger(self) -> Sequence[DataclassInstance]: ...
    def stats(self) -> dict[str, Any]: ...
    def reset_log(self) -> None: ...
    def reset_ledger(self) -> None: ...


def is_control(request: web.Request) -> bool:
    """Whether the request matched a control route (registered by `ControlRoutes.add_routes`)."""
    return (request.match_info.route.name or "").startswith(ROUTE_NAME)


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 answer with the body `{"error": message}`, written by the stdlib `json`."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


@dataclass(frozen=True)
class ControlJson:
    """How one sandbox's control routes read a JSON body, refuse it (400) and answer."""

    #: the exception a route raises to answer 400 with this message
    bad_request: Callable[[str], Exception]
    #: a 200 answer carrying this JSON value
    respond: Callable[[Any], web.Response]
    #: "aiohttp": `request.json()` (stdlib `json`, so NaN and Infinity pass) and only a body of
    #: zero bytes counts as empty; "orjson": `orjson.loads`, and a blank body counts as empty
    parser: Literal["aiohttp", "orjson"] = "aiohttp"

    async def body(self, request: web.Request) -> dict[str, Any]:
        """The request's JSON object body (an empty body is `{}`)."""
        raw = await request.read()
        if self.parser == "orjson":
            if not raw.strip():
                return {}
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise self.bad_request("body must be JSON") from exc
        else:
            if not raw:
                return {}
            try:
                body = await request.json()
            except ValueError as exc:
                raise self.bad_request("body must be JSON") from exc
        if not isinstance(body, dict):
            raise self.bad_request("body must be a JSON object")
        return body

    async def generation_knobs(self, request: web.Request) -> dict[str, float]:
        """The generation body `{change_pct, delete_pct, insert_pct}` (each optional, a number
        0..100) as `generation()` keyword arguments, defaults filled in."""
        body = await self.body(request)
        unknown = set(body) - set(GENERATION_DEFAULTS)
        if unknown:
            raise self.bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
        knobs = dict(GENERATION_DEFAULTS)
        for name, value in body.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 100
            ):
                raise self.bad_request(f"{name} must be a number between 0 and 100")
            knobs[name] = float(value)
        return knobs


def log_entries(log: Iterable[RequestLogEntry]) -> list[dict[str, Any]]:
    """The request log as JSON: `[{at, method, path, query, token_seen, status}]` (tokens never
    echoed)."""
    return [
        {
            "at": e.at,
            "method": e.method,
            "path": e.path,
            "query": e.query,
            "token_seen": e.token is not None,
            "status": e.status,
        }
        for e in log
    ]


@dataclass(frozen=True)
class ControlRoutes:
    """The control routes of one vendor: its way with JSON, and how a request finds its sandbox."""

    json: ControlJson
    sandbox: Callable[[web.Request], Controlled]

    async def stats(self, request: web.Request) -> web.StreamResponse:
        return self.json.respond(self.sandbox(request).stats())

    async def config(self, request: web.Request) -> web.StreamResponse:
        """Body: an object of runtime knobs to change → their new values (400 if one is bad)."""
        body = await self.json.body(request)
        try:
            changed = self.sandbox(request).config.apply(body)
        except ValueError as exc:
            raise self.json.bad_request(str(exc)) from exc
        return self.json.respond(changed)

    async def request_log(self, request: web.Request) -> web.StreamResponse:
        """`[{at, method, path, query, token_seen, status}]` (tokens never echoed)."""
        return self.json.respond(log_entries(self.sandbox(request).request_log))

    async def reset_log(self, request: web.Request) -> web.StreamResponse:
        self.sandbox(request).reset_log()
        return self.json.respond({"ok": True})

    async def ledger(self, request: web.Request) -> web.StreamResponse:
        """The writes applied, oldest first: each vendor's `AppliedWrite` as an object."""
        return self.json.respond(ledger_json(self.sandbox(request).ledger))

    async def reset_ledger(self, request: web.Request) -> web.StreamResponse:
        self.sandbox(request).reset_ledger()
        return self.json.respond({"ok": True})

    def standard(self, generation: Handler, *, log: Handler | bool = True) -> list[Route]:
        """The routes every vendor but XtraKit has: stats, `generation`, config, the request log
        (`GET /log` answered by `log`, by the shared answer when True, absent when False; its
        reset always) and the ledger."""
        routes: list[Route] = [
            ("GET", "/stats", self.stats),
            ("POST", "/generation", generation),
            ("POST", "/config", self.config),
            ("POST", "/reset-log", self.reset_log),
            ("GET", "/ledger", self.ledger),
            ("POST", "/reset-ledger", self.reset_ledger),
        ]
        if log is not False:
            routes.append(("GET", "/log", self.request_log if log is True else log))
        return routes

    def add_routes(self, app: web.Application, routes: Iterable[Route]) -> None:
        """Register `routes` on `app` under `PREFIX`, each named as a control route."""
        for method, path, handler in routes:
            name = path.strip("/").replace("-", "_") + "_" + method.lower()
            app.router.add_route(method, PREFIX + path, handler, name=ROUTE_NAME + name)
