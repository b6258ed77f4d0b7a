"""One JSON call to a sandbox under test, its status checked (the vendors' write tests)."""

from __future__ import annotations

from typing import Any

import orjson


async def call(
    client: Any,
    method: str,
    path: str,
    *,
    body: Any = None,
    expect: int = 200,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
) -> Any:
    """Send `body` as JSON with `headers`; assert the answer's status is `expect`; return the
    decoded body (None for an empty one)."""
    response = await client.request(method, path, json=body, params=params, headers=headers)
    raw = await response.read()
    assert response.status == expect, raw[:500]
    return orjson.loads(raw) if raw else None
