"""What the sandboxes' `/_sandbox/` control routes share: JSON bodies, 400s, generation, config."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from syncer.sandbox.common.requestlog import RequestLogEntry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the body fields of `POST /_sandbox/generation` and their values when left out
GENERATION_DEFAULTS: Mapping[str, float] = {"change_pct": 1.0, "delete_pct": 0.1, "insert_pct": 0.1}


class Reconfigurable(Protocol):
    """A sandbox config whose runtime knobs `POST /_sandbox/config` changes."""

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]: ...


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

    def config_route(self, config_of: Callable[[web.Request], Reconfigurable]) -> Handler:
        """The `POST /_sandbox/config` handler of the sandbox whose config `config_of` finds."""

        async def config(request: web.Request) -> web.StreamResponse:
            """Body: an object of runtime knobs to change → their new values (400 if one is bad)."""
            body = await self.body(request)
            try:
                changed = config_of(request).apply(body)
            except ValueError as exc:
                raise self.bad_request(str(exc)) from exc
            return self.respond(changed)

        return config


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
