"""What the Exto sandbox's write tests share: the token's header, the routes, and `send`."""

from __future__ import annotations

import re
from typing import Any

import orjson

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
MODULES = "/data/api/v1/module-record/INSPECTION"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")


async def send(
    client: Any,
    method: str,
    path: str,
    body: Any = None,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Any:
    """Send a JSON write with the token; assert the status; return the decoded answer (None if
    the body is empty)."""
    response = await client.request(
        method, path, json=body, params=params, headers=AUTH | (headers or {})
    )
    raw = await response.read()
    assert response.status == expect, raw[:500]
    return orjson.loads(raw) if raw else None
