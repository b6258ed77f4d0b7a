"""The field types a master's or module's writes are checked against, learnt from its records.

Exto validates a write against the form behind the master or module ("MODULE_RECORD_VALIDATION_
FAILED", per field). The sandbox has no forms, so each field's type is what the collection's
records hold (nulls aside): `integer`, `number`, `string`, `date` (`YYYY-MM-DD`), `boolean`,
`object`, `array`, or `any` when they disagree. A field no record has takes any value and, once
written, joins the schema with the type written.

    types = learn(coll.records())          # {"serial_number": "integer", "opened_on": "date", ...}
    value_error("serial_number", "x", types)  # "serial_number must be a number"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from syncer.sandbox.exto.fields import Record

FieldTypes = dict[str, str]

_DATE = re.compile(r"\d{4}-\d\d-\d\d")
#: what a value of each type must be, for the error detail
_MUST_BE = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "date": "a date (YYYY-MM-DD)",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


def learn(records: Iterable[Record]) -> FieldTypes:
    """The type of every customFields field of `records`, from their non-null values."""
    seen: dict[str, set[str]] = {}
    for record in records:
        custom = record.get("customFields")
        if not isinstance(custom, dict):
            continue
        for name, value in custom.items():
            kinds = seen.setdefault(name, set())
            if value is not None:
                kinds.add(kind_of(value))
    return {name: _merge(kinds) for name, kinds in seen.items()}


def widen(types: FieldTypes, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add to `types` the fields of `rows` it lacks (with the type of their first non-null
    value; fields seen only as null stay unknown)."""
    for row in rows:
        for name, value in row.items():
            if name not in types and value is not None:
                types[name] = kind_of(value)


def kind_of(value: Any) -> str:
    """The schema type of one non-null JSON value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "date" if _is_date(value) else "string"
    return "object" if isinstance(value, dict) else "array"


def value_error(name: str, value: Any, types: Mapping[str, str]) -> str | None:
    """What is wrong with `value` for field `name` ("serial_number must be a number"), or None
    when it fits (null fits every field; unknown fields take anything)."""
    kind = types.get(name, "any")
    if value is None or kind == "any" or _fits(kind, value):
        return None
    if kind == "integer" and _fits("number", value):
        return f"{name} must be an integer"
    if kind == "integer":
        return f"{name} must be a number"
    return f"{name} must be {_MUST_BE[kind]}"


def _fits(kind: str, value: Any) -> bool:
    if kind == "integer":
        return _fits("number", value) and float(value).is_integer()
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and _is_date(value)
    if kind == "string":
        return isinstance(value, str)
    return kind_of(value) == kind


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _merge(kinds: set[str]) -> str:
    """One type for the types seen: integers with numbers are numbers, dates with other strings
    are strings; any other mix is `any` (as is a field only ever null)."""
    if kinds <= {"integer", "number"} and kinds:
        return "number" if "number" in kinds else "integer"
    if kinds == {"date", "string"}:
        return "string"
    return next(iter(kinds)) if len(kinds) == 1 else "any"
