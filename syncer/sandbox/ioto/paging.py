"""Ioto's paged finds, DynamoDB-style: paging options, `next` cursors, and one page of items.

A page reads items in (pk, sk) order from just after the cursor. `limit` counts items *evaluated*
(read), before attribute filters drop any, so a filtered page can be short or empty and still carry
`next` = the last evaluated key; a page that reaches the end of its key span omits `next`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from syncer.sandbox.ioto.models import Key, KeyCondition
from syncer.sandbox.ioto.table import Table

#: appended to a sort key to name the gap just after an item (sorts below every key character)
GAP = "!"
#: the paging options read from the query string or `_params`
OPTION_NAMES = ("limit", "next", "prev", "index", "filter", "where")
_DIGITS = re.compile(r"[0-9]+")


class PagingError(ValueError):
    """A paging option or cursor the sandbox refuses (answered 400 text)."""


@dataclass(frozen=True)
class Options:
    """The paging options one find uses, after merging the query string over `_params`."""

    limit: int
    next: Key | None
    index: str | None = None

    def logged(self) -> dict[str, str]:
        """The options as the request log records them (`next` as compact JSON)."""
        entry = {"limit": str(self.limit)}
        if self.next is not None:
            entry["next"] = encode_key(self.next).decode()
        if self.index is not None:
            entry["index"] = self.index
        return entry


def merge_options(query: Mapping[str, str], params: object) -> dict[str, Any]:
    """The body's `_params` object overlaid by the query string's options (query wins)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise PagingError("_params must be an object")
    merged = {name: params[name] for name in OPTION_NAMES if name in params}
    merged.update({name: query[name] for name in OPTION_NAMES if name in query})
    return merged


def parse_options(merged: Mapping[str, Any], default_limit: int, max_limit: int) -> Options:
    """Validate merged options; raise PagingError with the 400 message."""
    for name in ("prev", "filter", "where"):
        if merged.get(name) not in (None, ""):
            raise PagingError(f"The sandbox does not support the {name!r} option")
    index = merged.get("index")
    if index not in (None, "primary"):
        raise PagingError(f"Unknown index {index!r}")
    return Options(
        _limit(merged.get("limit"), min(default_limit, max_limit), max_limit),
        _cursor(merged.get("next")),
        index,
    )


def _limit(value: Any, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise PagingError(f"Invalid limit: must be an integer from 1 to {maximum}")
    return value


def _cursor(value: Any) -> Key | None:
    """`next` as sent: a JSON object (`_params`) or its JSON text (query string); null = none."""
    if value is None or value in ("", "null"):
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise PagingError("Invalid next cursor") from None
    if (
        not isinstance(value, dict)
        or set(value) != {"pk", "sk"}
        or not all(isinstance(part, str) and part for part in value.values())
    ):
        raise PagingError("Invalid next cursor")
    return value["pk"], value["sk"]


def encode_key(key: Key) -> bytes:
    return orjson.dumps({"pk": key[0], "sk": key[1]})


def is_gap(key: Key) -> bool:
    return key[1].endswith(GAP)


def check_cursor(table: Table, condition: KeyCondition, cursor: Key) -> None:
    """Refuse a cursor that names no item this table ever held (or the gap after one), or lies
    outside the key span of the find it is sent with."""
    pk, sk = cursor
    base = (pk, sk.removesuffix(GAP)) if is_gap(cursor) else cursor
    if base not in table.known or not condition.admits(base):
        raise PagingError("Invalid next cursor")


@dataclass(frozen=True)
class Page:
    """One page: the served items' JSON and the keys around them."""

    data: list[bytes]
    next: Key | None
    prev: Key | None
    evaluated: int

    def body(self) -> bytes:
        """`{"data": [...], "next": {pk, sk}, "prev": {pk, sk}, "paged": true}`; absent: omitted."""
        parts = [b'{"data":[', b",".join(self.data), b"]"]
        if self.next is not None:
            parts += [b',"next":', encode_key(self.next)]
        if self.prev is not None:
            parts += [b',"prev":', encode_key(self.prev)]
        parts.append(b',"paged":true}')
        return b"".join(parts)


def read_page(
    table: Table,
    condition: KeyCondition,
    filters: Mapping[str, Any],
    options: Options,
    *,
    filtered_ratio: float = 0.0,
    bytes_cap: int = 0,
) -> Page:
    """Evaluate up to `options.limit` items after the cursor, then apply the filters.

    `bytes_cap` (> 0) also ends the page before the item that would take the evaluated items'
    JSON past it (at least one item is always read), like DynamoDB's 1 MB page. Items whose roll
    falls below `filtered_ratio` are dropped as if an attribute filter refused them.
    """
    lo, hi = table.span(condition)
    position = lo if options.next is None else max(lo, table.after(options.next))
    data: list[bytes] = []
    first: Key | None = None
    size = evaluated = 0
    while position < hi and evaluated < options.limit:
        key = table.keys[position]
        raw = table.raw[key]
        if bytes_cap and evaluated and size + len(raw) > bytes_cap:
            break
        size += len(raw)
        evaluated += 1
        position += 1
        item = table.items[key]
        if table.roll[key] < filtered_ratio:
            continue
        if matches(item, filters):
            data.append(raw)
            first = first or key
    last = table.keys[position - 1] if evaluated and position < hi else None
    prev = first if options.next is not None else None
    return Page(data, last, prev, evaluated)


def empty_page(cursor: Key) -> Page:
    """A page that read nothing but still points on: at the gap just after `cursor`."""
    return Page([], (cursor[0], cursor[1].removesuffix(GAP) + GAP), None, 0)


_MISSING = object()


def matches(item: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Whether `item` has every attribute of `filters`, JSON-equal (a missing one never matches)."""
    return all(json_equal(item.get(name, _MISSING), value) for name, value in filters.items())


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: booleans are not numbers; 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)
