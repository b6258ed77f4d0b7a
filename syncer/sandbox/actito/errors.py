"""Actito error answers: `{"status", "error", "message"}` bodies (vendors.md §3.6, [A])."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from syncer.sandbox.common.wire import StatusError, json_response


class ApiError(StatusError):
    """An Actito error answer: its status, message and extra headers (e.g. `Retry-After`)."""

    def response(self, request: web.Request) -> web.Response:
        """The JSON error body; `error` is the status's reason phrase, e.g. "Too Many Requests"."""
        body = {"status": self.status, "error": _phrase(self.status), "message": self.message}
        return json_response(body, status=self.status, headers=self.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
