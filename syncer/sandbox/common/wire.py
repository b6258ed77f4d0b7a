"""HTTP pieces the sandboxes share: orjson JSON answers, bearer tokens, status-carrying errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """`body` as an `application/json` answer, encoded by orjson."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme in any case), if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class StatusError(Exception):
    """An error answer: its HTTP status, message and extra headers (e.g. `Retry-After`).

    Each vendor subclasses it and writes the body its own way (`response`); a vendor's middleware
    answers any `StatusError` a handler raises with it.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = {}

    def response(self, request: web.Request) -> web.Response:
        """The vendor's error answer to `request`."""
        raise NotImplementedError
