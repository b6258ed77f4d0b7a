"""Check a write's `[{name, value}]` list against the table definition the structure routes serve.

The definition drives everything: which names exist, their `valueType`, `valueRestriction` and
`mandatory` flag (vendors.md §3.3, §3.4). Every refusal is a 400 naming the attribute.

    values = pairs(body, "attributes")  # {name: value}
    check_values(definition, values, "attribute")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from syncer.sandbox.actito.errors import ApiError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def json_object(body: Any) -> dict[str, Any]:
    """`body` if it is a JSON object, else 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    return body


def allowed_fields(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """400 for a top-level body field the operation does not know (our assumption: strict)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"Unknown field(s) in the body: {', '.join(unknown)}")


def pairs(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    """`body[field]`, a list of `{"name", "value"}` objects, as `{name: value}`.

    400 when the field is missing or not such a list, or a name repeats.
    """
    items = body.get(field)
    if not isinstance(items, list):
        raise ApiError(400, f"{field} is required: a list of {{name, value}} objects")
    values: dict[str, Any] = {}
    for item in items:
        if (
            not isinstance(item, dict)
            or set(item) != {"name", "value"}
            or not isinstance(item["name"], str)
        ):
            raise ApiError(400, f"Each item of {field} must be an object {{name, value}}")
        if item["name"] in values:
            raise ApiError(400, f"{item['name']!r} appears twice in {field}")
        values[item["name"]] = item["value"]
    return values


def check_values(definition: Mapping[str, Any], values: Mapping[str, Any], what: str) -> None:
    """400 for a name the table does not declare, a value not of the attribute's `valueType` or
    outside its `valueRestriction`, or null for a mandatory attribute."""
    declared = {a["name"]: a for a in definition["attributes"]}
    for name, value in values.items():
        attribute = declared.get(name)
        if attribute is None:
            raise ApiError(400, f"Unknown {what} {name!r} in table {definition['name']!r}")
        if value is None:
            if attribute["mandatory"]:
                raise ApiError(400, f"Mandatory {what} {name!r} cannot be null")
            continue
        problem = _type_problem(attribute.get("valueType", "STRING"), value)
        problem = problem or _restriction_problem(attribute.get("valueRestriction", {}), value)
        if problem:
            raise ApiError(400, f"Invalid value for {what} {name!r}: {problem}")


def missing_mandatory(
    definition: Mapping[str, Any], values: Mapping[str, Any], skip: Iterable[str] = ()
) -> list[str]:
    """The mandatory attributes (but `skip`) that `values` lacks or holds as null."""
    skipped = set(skip)
    return [
        a["name"]
        for a in definition["attributes"]
        if a["mandatory"] and a["name"] not in skipped and values.get(a["name"]) is None
    ]


def _type_problem(value_type: str, value: Any) -> str | None:
    if value_type == "STRING":
        ok = isinstance(value, str)
    elif value_type in ("INTEGER", "LONG"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif value_type == "NUMBER":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif value_type == "BOOLEAN":
        ok = isinstance(value, bool)
    elif value_type == "DATE":
        ok = isinstance(value, str) and _parses(_DATE, value, "%Y-%m-%d")
    elif value_type == "TIMESTAMP":
        ok = isinstance(value, str) and _parses(_TIMESTAMP, value, "%Y-%m-%d %H:%M:%S")
    else:
        ok = True
    if ok:
        return None
    spelled = {"DATE": "a DATE (YYYY-MM-DD)", "TIMESTAMP": "a TIMESTAMP (YYYY-MM-DD HH:MM:SS)"}
    return f"expected {spelled.get(value_type, f'a {value_type}')}, got {value!r}"


def _restriction_problem(restriction: Mapping[str, Any], value: Any) -> str | None:
    accepted = restriction.get("acceptedValues")
    if accepted is not None and value not in accepted:
        return f"{value!r} is not one of {', '.join(map(str, accepted))}"
    if isinstance(value, str):
        shortest, longest = restriction.get("minLength"), restriction.get("maxLength")
        if shortest is not None and len(value) < shortest:
            return f"shorter than {shortest} characters"
        if longest is not None and len(value) > longest:
            return f"longer than {longest} characters"
    return None


def _parses(pattern: re.Pattern[str], value: str, layout: str) -> bool:
    if not pattern.fullmatch(value):
        return False
    try:
        datetime.strptime(value, layout)
    except ValueError:
        return False
    return True
