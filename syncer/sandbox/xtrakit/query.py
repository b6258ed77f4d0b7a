"""List query parameters: the proposed `page`/`per_page` paging and the documented filters.

Validation failures raise `ApiError(400, ...)` with Laravel's wording ("The per page field must not
be greater than 1000."), since XtraKit looks like a Laravel app (vendors.md §4.3). Unknown
parameters are ignored and an empty value means "not given", as Laravel's `filled()` would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from syncer.sandbox.xtrakit.errors import ApiError
from syncer.sandbox.xtrakit.records import Record

Predicate = Callable[[Record], bool]
#: builds a predicate from a parameter's name and (non-empty) value
Rule = Callable[[str, str], Predicate]

_INTEGER = re.compile(r"[+-]?\d+")
#: `YYYY-MM-DD`, optionally followed by ` H:m` or ` H:m:s` (one or two digits each)
_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")


@dataclass(frozen=True)
class Paging:
    """Validated `page` / `per_page`."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def pagination(self, total: int) -> dict[str, int]:
        """`data.pagination`; `last_page` is at least 1, as in Laravel's paginator."""
        return {
            "current_page": self.page,
            "per_page": self.per_page,
            "total": total,
            "last_page": max(math.ceil(total / self.per_page), 1),
        }


def paging(query: Mapping[str, str], default: int, maximum: int) -> Paging:
    """Read and check `page` (>= 1, default 1) and `per_page` (1..maximum, default `default`)."""
    page = _integer(query, "page", 1)
    if page < 1:
        raise ApiError(400, "The page field must be at least 1.")
    per_page = _integer(query, "per_page", default)
    if per_page < 1:
        raise ApiError(400, "The per page field must be at least 1.")
    if per_page > maximum:
        raise ApiError(400, f"The per page field must not be greater than {maximum}.")
    return Paging(page, per_page)


def _integer(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name, "").strip()
    if not text:
        return default
    if not _INTEGER.fullmatch(text):
        raise ApiError(400, f"The {_attribute(name)} field must be an integer.")
    return int(text)


def _attribute(name: str) -> str:
    return name.replace("_", " ")


def _parse(name: str, text: str) -> tuple[str, str | None]:
    """(`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or None when no time was given) of a filter value."""
    match = _DATETIME.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        year, month, day_, hour, minute, second = (int(part or 0) for part in match.groups())
        day_text = date(year, month, day_).isoformat()
        if not (hour < 24 and minute < 60 and second < 60):
            raise ValueError(text)
    except ValueError:
        raise ApiError(400, f"The {_attribute(name)} field must be a valid date.") from None
    if match.group(4) is None:
        return day_text, None
    return day_text, f"{day_text} {hour:02d}:{minute:02d}:{second:02d}"


def exact(field: str) -> Rule:
    """The field's value, as text, equals the parameter (`"7"` matches 7 and `"7"`)."""

    def rule(name: str, text: str) -> Predicate:
        def test(record: Record) -> bool:
            value = record.get(field)
            return value is not None and str(value) == text

        return test

    return rule


def since(field: str) -> Rule:
    """The field's timestamp is at or after the start (a date alone means its midnight)."""

    def rule(name: str, text: str) -> Predicate:
        day_text, moment = _parse(name, text)
        start = moment or f"{day_text} 00:00:00"

        def test(record: Record) -> bool:
            value = record.get(field)
            return isinstance(value, str) and value >= start[: len(value)]

        return test

    return rule


def until(field: str) -> Rule:
    """The field is at or before the end: a date includes its whole day; a date field (10
    characters) is compared by date."""

    def rule(name: str, text: str) -> Predicate:
        day_text, moment = _parse(name, text)

        def test(record: Record) -> bool:
            value = record.get(field)
            if not isinstance(value, str):
                return False
            if moment is None or len(value) <= 10:
                return value[:10] <= day_text
            return value <= moment

        return test

    return rule


def on_day(field: str) -> Rule:
    """The field's date is the given day (null never matches)."""

    def rule(name: str, text: str) -> Predicate:
        day_text, _ = _parse(name, text)

        def test(record: Record) -> bool:
            value = record.get(field)
            return isinstance(value, str) and value[:10] == day_text

        return test

    return rule


#: the documented filters of each list (vendors.md §4.3), parameter -> rule
FILTERS: Mapping[str, Mapping[str, Rule]] = {
    "customers": {
        "customer_group_id": exact("customer_group_id"),
        "created_at": since("created_at"),
        "updated_at": until("updated_at"),
    },
    "items": {
        "category_id": exact("category_id"),
        "created_at": since("created_at"),
        "updated_at": until("updated_at"),
    },
    "categories": {
        "category_name": exact("category_name"),
        "created_at": since("created_at"),
        "updated_at": until("updated_at"),
    },
    "sales": {
        "invoice_code": exact("invoice_code"),
        "customer_id": exact("customer_id"),
        "invoice_type": exact("invoice_type"),
        "payment_status": exact("payment_status"),
        "payment_date": on_day("payment_date"),
        "created_at": since("created_at"),
        "due_date": until("due_date"),
    },
}


def record_filter(collection: str, query: Mapping[str, str]) -> Predicate | None:
    """The conjunction of the documented filters present in `query`; None when there are none."""
    tests = [
        rule(name, query[name].strip())
        for name, rule in FILTERS[collection].items()
        if query.get(name, "").strip()
    ]
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)
