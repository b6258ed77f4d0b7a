"""What the Exto sandbox's write tests share: the token's header, the routes, and `send`."""

from __future__ import annotations

import re
from typing import Any

from tests.sandbox.json_calls import call

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
    """Send a JSON write with the token (and `headers`); assert the status; return the decoded
    answer (None if the body is empty)."""
    return await call(
        client,
        method,
        path,
        body=body,
        expect=expect,
        headers=AUTH | (headers or {}),
        params=params,
    )
