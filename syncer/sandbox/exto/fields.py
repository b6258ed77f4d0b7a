"""How a field name in `sort` or `filter` finds a value in an Exto record."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from syncer.sandbox.exto import deepjson

Record = dict[str, Any]
Getter = Callable[[Record], Any]


def getter(name: str) -> Getter:
    """Return a function reading field `name` from a record; a missing field reads as None.

    The first dotted segment names a top-level field if the record has one (`_id`, `updatedAt`,
    `customFields.city`), else a field inside `customFields` (`city`, `address.zip`) — our
    assumption where the Exto docs only show custom field names.
    """
    head, *rest = name.split(".")

    def get(record: Record) -> Any:
        if head in record:
            value: Any = record[head]
        else:
            custom = record.get("customFields")
            value = custom.get(head) if isinstance(custom, dict) else None
        for part in rest:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def sort_value(value: Any) -> tuple[int, Any]:
    """A totally ordered stand-in for a JSON value, in MongoDB's type order.

    null < numbers < strings < objects < arrays < booleans; NaN sorts below every number.
    """
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, int(value))
    if isinstance(value, int | float):
        return (1, -math.inf if value != value else value)
    if isinstance(value, str):
        return (2, value)
    kind = 3 if isinstance(value, dict) else 4
    try:
        return (kind, json.dumps(value, sort_keys=True, default=str))
    except RecursionError:  # nested deeper than the stdlib recurses (the poison corpus's `deep`)
        return (kind, deepjson.dumps(value, sort_keys=True))
