"""Write bodies checked the way a Laravel form request would, with Laravel's 400 wording.

Input is read as Laravel reads it: the query string merged with a JSON body (only when the
Content-Type says JSON) or a form body; strings are trimmed and an empty one counts as null
(Laravel's TrimStrings and ConvertEmptyStringsToNull). Each field gets at most one message, in the
order of the spec; the 400's message is the first one, plus " (and N more errors)".

    values = validate(CUSTOMER, {"customer_name": "Jane"})
    # ApiError(400, "The customer phone field is required. (and 4 more errors)")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

from aiohttp import web

from syncer.sandbox.xtrakit.errors import ApiError

_INTEGER = re.compile(r"[+-]?\d+")
_SIX_DIGITS = re.compile(r"\d{6}")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_JSON_TYPES = ("application/json", "text/json")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: Laravel's usual `max:255` on string columns
MAX_TEXT = 255
#: numbers must lie strictly between -LIMIT and LIMIT (a decimal(15,2) column, our assumption)
LIMIT = Decimal(10**13)


class Kind(Enum):
    """What a field must hold, and what it is stored as once valid."""

    TEXT = "text"  # a string of at most 255 characters -> str
    EMAIL = "email"  # an email address -> str
    INTEGER = "integer"  # an integer or integer string -> int
    NUMBER = "number"  # a number or numeric string -> Decimal
    FLAG = "flag"  # 1/0 ("1"/"0", true/false) -> int
    CHOICE = "choice"  # one of `Field.choices` -> str
    DIGITS6 = "digits6"  # exactly six digits -> str
    DATE = "date"  # YYYY-MM-DD -> str


@dataclass(frozen=True)
class Field:
    """One body field: its name, kind, whether it is required, and its choices (CHOICE)."""

    name: str
    kind: Kind
    required: bool = True
    choices: tuple[str, ...] = ()


#: vendors.md §4.4 [X3][X4]; the optional fields are the ones the list records carry
CUSTOMER = (
    Field("customer_name", Kind.TEXT),
    Field("customer_phone", Kind.TEXT),
    Field("customer_country", Kind.TEXT),
    Field("customer_city", Kind.TEXT),
    Field("customer_state", Kind.TEXT),
    Field("address1", Kind.TEXT),
    Field("customer_email", Kind.EMAIL, required=False),
    Field("customer_group_id", Kind.INTEGER, required=False),
)
#: vendors.md §4.4 [X6][X7]
ITEM = (
    Field("item_name", Kind.TEXT),
    Field("category_id", Kind.INTEGER),
    Field("unit", Kind.TEXT),
    Field("unit_cost", Kind.NUMBER),
    Field("item_price", Kind.NUMBER),
    Field("quantity", Kind.NUMBER),
    Field("online", Kind.FLAG),
    Field("status", Kind.TEXT),
    Field("sku", Kind.TEXT, required=False),
)
#: vendors.md §4.4 [X10]: the documented required set; "…" read as the other fields a sale lists
SALE = (
    Field("invoice_code", Kind.DIGITS6),
    Field("invoice_number", Kind.TEXT),
    Field("customer_id", Kind.INTEGER),
    Field("sub_total_amount", Kind.NUMBER),
    Field("total_amount", Kind.NUMBER),
    Field("amount_paid", Kind.NUMBER),
    Field("invoice_type", Kind.CHOICE, choices=("main", "pos", "order")),
    Field("payment_type", Kind.TEXT),
    Field("discount_amount", Kind.NUMBER, required=False),
    Field("tax_amount", Kind.NUMBER, required=False),
    Field("payment_status", Kind.CHOICE, required=False, choices=("paid", "partial", "draft")),
    Field("payment_date", Kind.DATE, required=False),
    Field("due_date", Kind.DATE, required=False),
)


async def read_input(request: web.Request) -> dict[str, Any]:
    """The request's input as Laravel's `$request->all()` sees it: query string, then the body.

    A JSON body counts only with a JSON Content-Type, and only if it is an object; a body that
    does not parse counts as no input (so the required-field messages follow).
    """
    values: dict[str, Any] = dict(request.query)
    content_type = request.content_type
    if content_type in _JSON_TYPES or content_type.endswith("+json"):
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            values.update(body)
    elif content_type in _FORM_TYPES:
        form = await request.post()
        values.update({name: value for name, value in form.items() if isinstance(value, str)})
    return values


def validate(
    spec: tuple[Field, ...],
    values: Mapping[str, Any],
    taken: Mapping[str, Callable[[Any], bool]] | None = None,
) -> dict[str, Any]:
    """Every field of `spec` (absent optional ones as None), cleaned; else ApiError(400).

    `taken` maps a field with Laravel's `unique` rule to a test: is this cleaned value in use?
    """
    taken = taken or {}
    cleaned: dict[str, Any] = {}
    errors: list[str] = []
    for field in spec:
        value = values.get(field.name)
        if isinstance(value, str):
            value = value.strip() or None
        elif isinstance(value, list | dict) and not value:
            value = None  # Laravel's `required` fails on an empty array too
        attribute = field.name.replace("_", " ")
        if value is None:
            if field.required:
                errors.append(f"The {attribute} field is required.")
            cleaned[field.name] = None
            continue
        try:
            cleaned[field.name] = _clean(field, value)
        except ValueError as exc:
            errors.append(str(exc).format(attribute=attribute))
            continue
        in_use = taken.get(field.name)
        if in_use is not None and in_use(cleaned[field.name]):
            errors.append(f"The {attribute} has already been taken.")
    if errors:
        more = len(errors) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise ApiError(400, errors[0] + suffix)
    return cleaned


def _clean(field: Field, value: Any) -> Any:
    """`value` stored as `field.kind` says; ValueError("... {attribute} ...") if it does not fit."""
    kind = field.kind
    if kind in (Kind.TEXT, Kind.EMAIL):
        if not isinstance(value, str):
            raise ValueError("The {attribute} field must be a string.")
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"The {{attribute}} field must not be greater than {MAX_TEXT} characters."
            )
        if kind is Kind.EMAIL and not _EMAIL.fullmatch(value):
            raise ValueError("The {attribute} field must be a valid email address.")
        return value
    if kind is Kind.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            return int(value)
        raise ValueError("The {attribute} field must be an integer.")
    if kind is Kind.NUMBER:
        return number(value)
    if kind is Kind.FLAG:
        if value in (0, 1, "0", "1") or isinstance(value, bool):
            return int(value)
        raise ValueError("The selected {attribute} is invalid.")
    if kind is Kind.CHOICE:
        if value in field.choices:
            return value
        raise ValueError("The selected {attribute} is invalid.")
    if kind is Kind.DIGITS6:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(text, str) and _SIX_DIGITS.fullmatch(text):
            return text
        raise ValueError("The {attribute} field must be 6 digits.")
    return _date(value)


def number(value: Any) -> Decimal:
    """A finite number (JSON number or numeric string) as a Decimal; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("The {attribute} field must be a number.")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("The {attribute} field must be a number.") from None
    if not result.is_finite():
        raise ValueError("The {attribute} field must be a number.")
    if not -LIMIT < result < LIMIT:
        raise ValueError(f"The {{attribute}} field must be between -{LIMIT} and {LIMIT}.")
    return result


def _date(value: Any) -> str:
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError(value)
        date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError("The {attribute} field must be a valid date.") from None
    return str(value)


def money(value: Decimal) -> str:
    """A sale's money text, as the lists serve it: two decimals (`"200.00"`)."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def quantity(value: Decimal) -> str:
    """An item's quantity text, as the lists serve it: `"20"`, or `"2.5"` for a fraction."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")
