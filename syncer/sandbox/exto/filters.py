"""Exto's `filter` query parameter: parse `field[:TYPE]:op:value` chains, test records with them.

Grammar (vendors.md §2.4): conditions joined by `:and:` / `:or:`, AND binding tighter than OR.
A condition is `field:TYPE:op:value` (TYPE in NUMBER, STRING, DATE, PRIMITIVE) or `field:op:value`.

    predicate = compile_filter("city:STRING:eq:Lyon:and:capacity:gt:10", time_zone="Europe/Paris")
    matching = [r for r in records if predicate(r)]

Tokenising (our assumption): the text is first cut at every `:and:` and `:or:` (lower case), then
each condition is cut at its first two (typed: three) colons; the value is the rest, so it may
contain colons (`createdAt:ge:2025-01-01T10:00:00.000Z`) but never the text `:and:` or `:or:`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncer.sandbox.exto import fields

Predicate = Callable[[fields.Record], bool]
Test = Callable[[Any], bool]

TYPES = ("NUMBER", "STRING", "DATE", "PRIMITIVE")
_ORDER_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
_STRING_OPS = ("cn", "sw", "ew", "nc")
#: operators each type accepts; None is the untyped 3-token form, which accepts all of them
OPERATORS: dict[str | None, tuple[str, ...]] = {
    "NUMBER": (*_ORDER_OPS, "in"),
    "STRING": ("eq", "ne", *_STRING_OPS, "in"),
    "DATE": (*_ORDER_OPS, "in"),
    "PRIMITIVE": ("eq", "ne", "in"),
    None: (*_ORDER_OPS, *_STRING_OPS, "in"),
}
#: operators that are the negation of another; the record matches when the positive one does not
_NEGATED = {"ne": "eq", "nc": "cn"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_JOINER = re.compile(r":(and|or):")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class FilterError(ValueError):
    """The filter text (or its time zone) cannot be understood; the API answers 400."""


@dataclass(frozen=True)
class Condition:
    """One `field[:TYPE]:op:value` test."""

    field: str
    type: str | None
    op: str
    value: str


@dataclass(frozen=True)
class Filter:
    """A parsed filter: OR of AND-groups of conditions."""

    groups: tuple[tuple[Condition, ...], ...]


def parse(text: str) -> Filter:
    """Parse filter text into conditions grouped for AND-before-OR evaluation."""
    pieces = _JOINER.split(text)
    groups: list[tuple[Condition, ...]] = []
    current = [_condition(pieces[0])]
    for joiner, piece in zip(pieces[1::2], pieces[2::2], strict=True):
        if joiner == "or":
            groups.append(tuple(current))
            current = []
        current.append(_condition(piece))
    groups.append(tuple(current))
    return Filter(tuple(groups))


def compile_filter(text: str, time_zone: str | None = None) -> Predicate:
    """Parse `text` into a predicate; DATE conditions use calendar days in `time_zone` (or UTC)."""
    zone = _zone(time_zone)
    parsed = parse(text)
    groups = [[_predicate(c, zone) for c in group] for group in parsed.groups]

    def matches(record: fields.Record) -> bool:
        return any(all(test(record) for test in group) for group in groups)

    return matches


def _zone(name: str | None) -> ZoneInfo:
    """The IANA zone called `name`, UTC when absent."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FilterError(f"Invalid localTimeZone: {name}") from exc


def _condition(text: str) -> Condition:
    """Split one condition into field, optional type, operator and value."""
    parts = text.split(":")
    typed = len(parts) > 1 and parts[1].upper() in TYPES
    head = 3 if typed else 2
    if len(parts) <= head or not parts[0]:
        raise FilterError(
            f"Invalid filter condition {text!r}: expected field[:TYPE]:operator:value"
        )
    kind = parts[1].upper() if typed else None
    op = parts[head - 1].lower()
    if op not in OPERATORS[kind]:
        allowed = " ".join(OPERATORS[kind])
        raise FilterError(
            f"Invalid operator {op!r} for {kind or 'untyped'} filter; use one of {allowed}"
        )
    value = ":".join(parts[head:])
    condition = Condition(field=parts[0], type=kind, op=op, value=value)
    if value.lower() == "null":
        if op not in ("eq", "ne"):
            raise FilterError(f"Invalid filter condition {text!r}: null works only with eq and ne")
        return condition
    for item in value.split("|") if op == "in" else [value]:
        if kind == "NUMBER" and not _NUMBER.fullmatch(item):
            raise FilterError(f"Invalid NUMBER value {item!r} in filter")
        if kind == "DATE" and _day(item) is None:
            raise FilterError(f"Invalid DATE value {item!r} in filter: expected YYYY-MM-DD")
    return condition


def _predicate(c: Condition, zone: ZoneInfo) -> Predicate:
    """Compile one condition; lists match when any element does (negated ops: when none does)."""
    get = fields.getter(c.field)
    if c.value.lower() == "null":
        want_null = c.op == "eq"
        return lambda record: (get(record) is None) is want_null
    negate = c.op in _NEGATED
    test = _scalar_test(c.type, _NEGATED.get(c.op, c.op), c.value, zone)

    def matches(record: fields.Record) -> bool:
        value = get(record)
        hit = any(test(v) for v in value) if isinstance(value, list) else test(value)
        return hit is not negate

    return matches


def _scalar_test(kind: str | None, op: str, raw: str, zone: ZoneInfo) -> Test:
    """A test of one (non-list) value for a positive operator; `in` is any of its `|` values."""
    if op == "in":
        items = raw.split("|")
        if kind == "STRING":
            strings = frozenset(items)
            return lambda v: isinstance(v, str) and v in strings
        if kind == "NUMBER":
            # equal numbers hash equally (2 == 2.0): a set answers what `eq` would, per item
            numbers = frozenset(float(i) if any(c in i for c in ".eE") else int(i) for i in items)
            return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v in numbers
        tests = [_scalar_test(kind, "eq", item, zone) for item in items]
        return lambda value: any(t(value) for t in tests)
    if kind == "NUMBER":
        return _number_test(op, raw)
    if kind == "STRING":
        return _string_test(op, raw)
    if kind == "DATE":
        return _date_test(op, raw, zone)
    if kind == "PRIMITIVE":
        target = _primitive(raw)
        return lambda value: _same(value, target)
    return _untyped_test(op, raw, zone)


def _untyped_test(op: str, raw: str, zone: ZoneInfo) -> Test:
    """Untyped conditions compare as the record value's own type (our assumption).

    Numbers compare numerically, booleans with `true`/`false`, strings as strings — except that a
    `YYYY-MM-DD` value against a date or timestamp string compares calendar days as DATE does.
    """
    ordered = op in _COMPARE
    number = _number_test(op, raw) if ordered and _NUMBER.fullmatch(raw) else None
    day = _date_test(op, raw, zone) if ordered and _day(raw) is not None else None
    string = _string_test(op, raw)
    flag = _primitive(raw) if raw in ("true", "false") else None

    def test(value: Any) -> bool:
        if isinstance(value, bool):
            return op == "eq" and flag is not None and value is flag
        if isinstance(value, int | float):
            return number is not None and number(value)
        if isinstance(value, str):
            if day is not None and _looks_like_time(value):
                return day(value)
            return string(value)
        return False

    return test


def _number_test(op: str, raw: str) -> Test:
    target = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
    compare = _COMPARE[op]
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and compare(v, target)


def _string_test(op: str, raw: str) -> Test:
    """eq/gt/… compare exactly; cn/sw/ew ignore case (our assumption)."""
    if op in _COMPARE:
        compare = _COMPARE[op]
        return lambda v: isinstance(v, str) and compare(v, raw)
    folded = raw.casefold()
    if op == "cn":
        return lambda v: isinstance(v, str) and folded in v.casefold()
    if op == "sw":
        return lambda v: isinstance(v, str) and v.casefold().startswith(folded)
    return lambda v: isinstance(v, str) and v.casefold().endswith(folded)


def _date_test(op: str, raw: str, zone: ZoneInfo) -> Test:
    """Compare the calendar day of a timestamp (in `zone`) or of a date string with day `raw`.

    The day's bounds are turned into canonical UTC strings once, so canonical timestamps
    (`2025-02-27T02:20:06.958Z`) compare as plain strings and a scan stays cheap.
    """
    day = _day(raw)
    assert day is not None  # checked by the parser
    start = _utc_text(datetime.combine(day, time(), zone))
    end = _utc_text(datetime.combine(day + timedelta(days=1), time(), zone))
    compare = _COMPARE[op]

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if len(value) == 10:
            return bool(compare(value, raw)) if _DAY.fullmatch(value) else False
        canonical = len(value) == 24 and value[10] == "T" and value[-1] == "Z"
        text = value if canonical else _canonical(value)
        if text is None:
            return False
        if op == "eq":
            return start <= text < end
        if op in ("gt", "le"):
            return (text >= end) is (op == "gt")
        return (text >= start) is (op == "ge")  # ge / lt

    return test


def _day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _looks_like_time(value: str) -> bool:
    return len(value) >= 10 and _DAY.fullmatch(value[:10]) is not None


def _canonical(value: str) -> str | None:
    """`value` as a canonical UTC timestamp (`2025-02-27T02:20:06.958Z`), or None if not one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _utc_text(moment)


def _utc_text(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _primitive(raw: str) -> Any:
    """A PRIMITIVE value: true/false, a number, or else the text itself."""
    if raw in ("true", "false"):
        return raw == "true"
    if _NUMBER.fullmatch(raw):
        return float(raw) if any(ch in raw for ch in ".eE") else int(raw)
    return raw


def _same(value: Any, target: Any) -> bool:
    """Equality that keeps booleans apart from the numbers 0 and 1."""
    if isinstance(value, bool) or isinstance(target, bool):
        return isinstance(value, bool) and isinstance(target, bool) and value is target
    return bool(value == target)
