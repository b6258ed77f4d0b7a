"""Reading Exto write requests: JSON bodies within Exto's limits, the acting user, the target.

Each reader raises the `ApiError` Exto answers with (400, or 404 for an unknown master/module).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.exto import directory
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.state import ExtoSandbox
from syncer.sandbox.exto.wire import ApiError

#: most rows per master/module/sub-table write, and most usernames per (de)activation
MAX_ROWS = 1000
#: most record ids per workflow action
MAX_WORKFLOW_IDS = 100


def bad_request(*detail: str) -> ApiError:
    return ApiError(400, "Bad Request", *detail)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; 400 when it is missing or not JSON."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request("Request body must be valid JSON") from exc


async def rows_body(
    request: web.Request, limit: int = MAX_ROWS, *, one_object: bool = False
) -> list[dict[str, Any]]:
    """A body of 1..`limit` JSON objects (`one_object`: a single object counts as one row)."""
    body = await json_body(request)
    if one_object and isinstance(body, dict):
        body = [body]
    items = _array(body, limit, "objects")
    if not all(isinstance(item, dict) for item in items):
        raise bad_request("Request body must be an array of objects")
    return items


async def strings_body(request: web.Request, limit: int, what: str) -> list[str]:
    """A body of 1..`limit` strings (`what` names them in the error)."""
    items = _array(await json_body(request), limit, what)
    if not all(isinstance(item, str) for item in items):
        raise bad_request(f"Request body must be an array of {what}")
    return items


def _array(body: Any, limit: int, what: str) -> list[Any]:
    if not isinstance(body, list) or not body:
        raise bad_request(f"Request body must be a non-empty array of {what}")
    if len(body) > limit:
        raise bad_request(f"Maximum {limit} records allowed but received {len(body)}")
    return body


def target(sb: ExtoSandbox, kind: str, name: str) -> Collection:
    """The master or module `name` (any case); 404 like the reads when there is none."""
    coll = sb.collection(kind, name)
    if coll is None:
        raise ApiError(404, "Not Found", f"{name.upper()} not Found.")
    return coll


def acting_user(request: web.Request, sb: ExtoSandbox) -> str:
    """The `userName` query parameter, lower-cased: required, and an active user."""
    name = request.query.get("userName", "").strip().lower()
    if not name:
        raise bad_request("Missing userName.")
    if not directory.is_active(sb.data.users, name):
        raise bad_request("User not found or active")
    return name


def project_scope(request: web.Request) -> str | None:
    """The `x-project-id` header (any spelling of its case), if sent."""
    return request.headers.get("x-project-id") or None


def key_text(value: Any) -> str:
    """A key for the ledger: strings as they are, other values as their JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
