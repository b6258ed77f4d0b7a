"""Actito profiles and custom-table (order) records: deterministic values in the served shapes.

A profile is served as `{profileId, attributes: [{name, value}], subscriptions, segmentations}`
and an order as `{businessKey, properties: [{name, value}]}` (vendors.md §3.3). Timestamps use the
portal's `YYYY-MM-DD HH:MM:SS` form (UTC); every value comes from an RNG the caller seeds.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE_START_S = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
BASE_END_S = int(datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC).timestamp())
#: generation g happens at this instant + g days
GENERATION_EPOCH_S = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())
DAY_S = 86_400

FIRST_NAMES = (
    "Emma", "Louis", "Olivia", "Arthur", "Louise", "Jules", "Mila", "Noah", "Alice", "Adam",
    "Lina", "Victor", "Elena", "Lucas", "Juliette", "Liam", "Camille", "Nathan", "Zoé", "Hugo",
)  # fmt: skip
LAST_NAMES = (
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
    "Wouters", "De Smet", "Dubois", "Lambert", "Dupont", "Lefèvre", "Simon", "Leclercq",
    "Laurent", "Hermans", "Van den Broeck", "Dupré",
)  # fmt: skip
LANGUAGES = ("FR", "NL", "EN", "DE")
PROFILE_ATTRIBUTES = (
    "emailAddress", "customerId", "firstName", "lastName", "birthDate", "motherLanguage",
    "gsmNumber", "loyaltyPoints", "creationMoment", "updateMoment",
)  # fmt: skip
SUBSCRIPTION = "Newsletter"

ORDER_PROPERTIES = (
    "orderId", "customerId", "amount", "currency", "status", "creationMoment", "updateMoment",
)  # fmt: skip
ORDER_STATUSES = ("NEW", "PAID", "SHIPPED", "CANCELED")
CURRENCIES = ("EUR", "EUR", "EUR", "EUR", "USD", "GBP")


def moment(seconds: int) -> str:
    """`YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time, as Actito's portal shows `updateMoment`."""
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def customer_id(profile_id: int) -> str:
    """The profile's unique `customerId`, e.g. `C-00042` for profile 42."""
    return f"C-{profile_id:05d}"


def business_key(number: int) -> str:
    """An order's 20-character business key, e.g. `ORD-0000000000000001`."""
    return f"ORD-{number:016d}"


def fields(record: Record) -> dict[str, Any]:
    """A profile's attributes or a record's properties as one flat `{name: value}` dict."""
    pairs = record["attributes"] if "attributes" in record else record["properties"]
    return {pair["name"]: pair["value"] for pair in pairs}


def text(value: Any) -> str:
    """A value as a query string would spell it: `12.5`, `12` (for 12.0), `true`, `` (null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def new_profile(rng: random.Random, profile_id: int, created_s: int, updated_s: int) -> Record:
    """A fresh profile; nullable attributes are sometimes null."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    birth = None if rng.random() < 0.1 else _birth_date(rng)
    values: dict[str, Any] = {
        "emailAddress": f"{_ascii(first)}.{_ascii(last)}.{profile_id}@example.com",
        "customerId": customer_id(profile_id),
        "firstName": first,
        "lastName": last,
        "birthDate": birth,
        "motherLanguage": rng.choice(LANGUAGES),
        "gsmNumber": _gsm(rng),
        "loyaltyPoints": rng.randrange(10_000),
        "creationMoment": moment(created_s),
        "updateMoment": moment(updated_s),
    }
    return profile_record(profile_id, values, {SUBSCRIPTION: rng.random() < 0.6})


def changed_profile(rng: random.Random, record: Record, updated_s: int) -> Record:
    """A new version of `record`: more loyalty points, maybe a new phone, language, opt-in."""
    values = fields(record)
    values["loyaltyPoints"] = int(values["loyaltyPoints"] or 0) + 1 + rng.randrange(500)
    if rng.random() < 0.5:
        values["gsmNumber"] = _gsm(rng)
    if rng.random() < 0.1:
        values["motherLanguage"] = rng.choice(LANGUAGES)
    values["updateMoment"] = moment(updated_s)
    subscribed = bool(record["subscriptions"][0]["subscribe"])
    if rng.random() < 0.3:
        subscribed = not subscribed
    return profile_record(record["profileId"], values, {SUBSCRIPTION: subscribed})


def new_order(
    rng: random.Random, number: int, customer: str, created_s: int, updated_s: int
) -> Record:
    """A fresh order of `customer` (a profile's customerId)."""
    key = business_key(number)
    values: dict[str, Any] = {
        "orderId": key,
        "customerId": customer,
        "amount": round(5 + rng.random() * 495, 2),
        "currency": rng.choice(CURRENCIES),
        "status": rng.choice(ORDER_STATUSES),
        "creationMoment": moment(created_s),
        "updateMoment": moment(updated_s),
    }
    return order_record(key, values)


def changed_order(rng: random.Random, record: Record, updated_s: int) -> Record:
    """A new version of `record`: another status, sometimes a corrected amount."""
    values = fields(record)
    values["status"] = rng.choice([s for s in ORDER_STATUSES if s != values["status"]])
    if rng.random() < 0.3:
        values["amount"] = round(5 + rng.random() * 495, 2)
    values["updateMoment"] = moment(updated_s)
    return order_record(record["businessKey"], values)


def profile_record(
    profile_id: int, values: Mapping[str, Any], subscriptions: Mapping[str, bool]
) -> Record:
    """A profile as served: every attribute of `values`, in the fixed order, and the
    subscriptions (`{name: subscribe}`); no segmentations."""
    return {
        "profileId": profile_id,
        "attributes": [{"name": name, "value": values[name]} for name in PROFILE_ATTRIBUTES],
        "subscriptions": [{"name": n, "subscribe": s} for n, s in subscriptions.items()],
        "segmentations": [],
    }


def subscriptions(record: Record) -> dict[str, bool]:
    """A profile's subscriptions as `{name: subscribe}`."""
    return {item["name"]: bool(item["subscribe"]) for item in record["subscriptions"]}


def order_record(key: str, values: Mapping[str, Any]) -> Record:
    """An order as served: every property of `values`, in the fixed order."""
    return {
        "businessKey": key,
        "properties": [{"name": name, "value": values[name]} for name in ORDER_PROPERTIES],
    }


def _birth_date(rng: random.Random) -> str:
    day = datetime(1940, 1, 1) + timedelta(days=rng.randrange(67 * 365))
    return day.strftime("%Y-%m-%d")


def _gsm(rng: random.Random) -> str | None:
    """A Belgian mobile number, or null for a quarter of the profiles."""
    if rng.random() < 0.25:
        return None
    return f"+324{rng.randrange(70, 100)}{rng.randrange(1_000_000):06d}"


def _ascii(name: str) -> str:
    """`name` as an e-mail local part: no accents, no spaces, lower case."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.replace(" ", "").lower()
