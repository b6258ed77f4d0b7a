"""Exto's wire, what its reads and writes share: the base paths, the JSON error body
(`ApiError`), the `page`/`pageSize` parameters (`Paging`) and the user a token acts as."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from syncer.sandbox.common.wire import StatusError, bearer_token, json_response
from syncer.sandbox.exto.config import DEFAULT_API_USER
from syncer.sandbox.exto.state import EXTO_KEY

PREFIX = "/data"
API = PREFIX + "/api/v1"
HEALTH = API + "/health/"
MAX_PAGE_SIZE = 1000
_INTEGER = re.compile(r"[+-]?\d+")


class ApiError(StatusError):
    """An Exto error answer: status, summary and detail lines of the JSON error body."""

    def __init__(self, status: int, summary: str, *detail: str) -> None:
        super().__init__(status, summary)
        self.summary = summary
        self.detail = list(detail)

    def response(self, request: web.Request) -> web.Response:
        """Exto's error body `{code, timestamp, path, error: {summary, detail}}`."""
        now = datetime.now(UTC)
        body = {
            "code": self.status,
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "path": request.path.removeprefix(PREFIX),
            "error": {"summary": self.summary, "detail": self.detail},
        }
        return json_response(body, status=self.status, headers=self.headers)


@dataclass(frozen=True)
class Paging:
    """Validated `page` / `pageSize`."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def envelope(self, rows: list[Any], total: int) -> dict[str, Any]:
        """Exto's list envelope `{rows, total, page, pageSize, totalPages}`."""
        return {"rows": rows} | self.counts(total)

    def counts(self, total: int) -> dict[str, int]:
        return {
            "total": total,
            "page": self.page,
            "pageSize": self.size,
            "totalPages": math.ceil(total / self.size),
        }


def paging(query: Mapping[str, str], default_size: int) -> Paging:
    """Read and check `page` (>= 1) and `pageSize` (1..1000) with Exto's error messages."""
    page = _integer(query.get("page"), 1)
    if page is None or page < 1:
        raise ApiError(400, "Bad Request", "Page must be greater than 0")
    size = _integer(query.get("pageSize"), default_size)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, "Bad Request", "Page size must be between 1 and 1000")
    return Paging(page, size)


def _integer(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    return int(text) if _INTEGER.fullmatch(text.strip()) else None


def token_user(request: web.Request) -> str:
    """The user the request's token acts as (`config.token_users`, else DEFAULT_API_USER)."""
    users = request.app[EXTO_KEY].config.token_users
    return users.get(bearer_token(request) or "", DEFAULT_API_USER)
