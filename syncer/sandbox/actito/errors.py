"""Actito error answers: `{"status", "error", "message"}` bodies (vendors.md §3.6, [A])."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
    """An error answer: its status, message and extra headers (e.g. `Retry-After`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = {}


def error_response(error: ApiError) -> web.Response:
    """The JSON error body; `error` is the status's reason phrase, e.g. "Too Many Requests"."""
    body = {"status": error.status, "error": _phrase(error.status), "message": error.message}
    return json_response(body, status=error.status, headers=error.headers)


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
