"""Actito error answers: `{"status", "error", "message"}` bodies (vendors.md §3.6, [A])."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from syncer.sandbox.common.wire import StatusError, json_response


class ApiError(StatusError):
    """An error answer: its status, message and extra headers (e.g. `Retry-After`)."""


def error_response(error: ApiError) -> web.Response:
    """The JSON error body; `error` is the status's reason phrase, e.g. "Too Many Requests"."""
    body = {"status": error.status, "error": _phrase(error.status), "message": error.message}
    return json_response(body, status=error.status, headers=error.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
