"""JSON for values nested deeper than the stdlib's recursion limit (the poison corpus's `deep`).

The stdlib's C encoder and decoder recurse once per nesting level and raise RecursionError near
`sys.getrecursionlimit()` (1,000) levels; orjson encodes at most 255 levels. `dumps` writes the
stdlib's exact text (`json.dumps(value, allow_nan=True)`: `", "` and `": "` separators, ASCII
escapes, `NaN`/`Infinity`) without recursing; `loads` is `json.loads`, falling back to orjson
(which reads up to 1,024 levels, but no `NaN`/`Infinity`) when the stdlib runs out of recursion.

    text = dumps(value)  # any depth
    assert loads(text) == value  # up to 1,024 levels (== itself recurses: shallow values only)
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson


class _Text(str):
    """Literal JSON text on the encoder's stack (plain `str` items there are values)."""

    __slots__ = ()


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """`json.dumps(value, allow_nan=True, sort_keys=sort_keys)`, without recursion."""
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Text:
            parts.append(item)
        elif isinstance(item, dict):
            entries = sorted(item.items()) if sort_keys else list(item.items())
            parts.append("{")
            stack.append(_Text("}"))
            for index in range(len(entries) - 1, -1, -1):
                key, member = entries[index]
                stack.append(member)
                stack.append(_Text((", " if index else "") + _key(key) + ": "))
        elif isinstance(item, list | tuple):
            parts.append("[")
            stack.append(_Text("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Text(", "))
        else:
            parts.append(_scalar(item))
    return "".join(parts)


def loads(text: str | bytes) -> Any:
    """`json.loads(text)`; when that runs out of recursion, orjson's reading of it."""
    try:
        return json.loads(text)
    except RecursionError:
        return orjson.loads(text)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    """An object key as the stdlib writes it (numbers, booleans and null become strings)."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if key is None or isinstance(key, bool | int | float):
        return encode_basestring_ascii(_scalar(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
