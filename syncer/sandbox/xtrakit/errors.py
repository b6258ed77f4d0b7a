"""XtraKit's answers: the `{status, message, data}` envelope every answer is, errors included
(`ApiError`, whose `data` is null)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.common.wire import StatusError


def envelope(
    status: int, message: str, data: Any, headers: dict[str, str] | None = None
) -> web.Response:
    """XtraKit's `{"status", "message", "data"}` body; `status` repeats the HTTP code."""
    body = orjson.dumps({"status": status, "message": message, "data": data})
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


class ApiError(StatusError):
    """An XtraKit error answer: HTTP status and the envelope's `message` (`data` is null)."""

    def response(self, request: web.Request) -> web.Response:
        return envelope(self.status, self.message, None, self.headers)
