"""What the Ioto sandbox's write tests share: the generic routes, a device, a Store item."""

from __future__ import annotations

from typing import Any

CREATE = "/tok/generic/create"
UPDATE = "/tok/generic/update"
REMOVE = "/tok/generic/remove"
GET = "/tok/generic/get"
FIND = "/tok/generic/find"


def a_device(sandbox: Any) -> str:
    """The id of the sandbox's first device."""
    return str(sandbox.sb.records("Device")[0]["id"])


def store(device: str, key: str = "zz.test", value: Any = 1, **more: Any) -> dict[str, Any]:
    """A Store item body for `device`: a number under `key`, with `more` fields."""
    return {
        "_type": "Store",
        "deviceId": device,
        "key": key,
        "value": value,
        "type": "number",
    } | more
