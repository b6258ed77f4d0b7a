"""`IotoError`: an error answer (Ioto's own are text/plain, API Gateway's are JSON)."""

from __future__ import annotations

import orjson
from aiohttp import web

from syncer.sandbox.common.wire import StatusError


class IotoError(StatusError):
    """An error answer: Ioto's own are text/plain; API Gateway's (429, 403 route) are JSON."""

    def __init__(self, status: int, message: str, *, gateway: bool = False) -> None:
        super().__init__(status, message)
        self.gateway = gateway

    def response(self, request: web.Request) -> web.Response:
        if self.gateway:
            body = orjson.dumps({"message": self.message})
            return web.Response(status=self.status, body=body, content_type="application/json")
        return web.Response(status=self.status, text=self.message, content_type="text/plain")
