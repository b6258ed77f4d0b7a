"""Exto master and module records: ObjectIds, timestamps and LOCATION/INSPECTION-like fields.

Built for speed (300k records in a few seconds): one RNG call per value, and strings put together
from prebuilt pieces rather than formatted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from syncer.sandbox.exto import directory
from syncer.sandbox.exto.fields import Record

DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
BASE_START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
BASE_END_MS = int(datetime(2025, 6, 30, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)

_day_text_cache: dict[int, str] = {}
#: "THH:MM:SS" for each second of a day and ".mmmZ" for each millisecond: string building is the
#: bulk of generating 300k records, so it is done by lookup
_CLOCK_TEXT = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
_MILLIS_TEXT = [f".{ms:03d}Z" for ms in range(1000)]


def day_text(days: int) -> str:
    """`YYYY-MM-DD` of a day counted from 1970-01-01."""
    text = _day_text_cache.get(days)
    if text is None:
        text = _day_text_cache[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    return text


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, e.g. `2025-02-27T02:20:06.958Z`."""
    seconds, millis = divmod(ms, 1000)
    days, second = divmod(seconds, 86_400)
    return day_text(days) + _CLOCK_TEXT[second] + _MILLIS_TEXT[millis]


class IdFactory:
    """Mongo-like ObjectIds: 8 hex of the creation second + 16 hex from a seeded RNG; unique."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def new(self, rng: random.Random, seconds: int) -> str:
        while True:
            object_id = f"{seconds & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"
            if object_id not in self._seen:
                self._seen.add(object_id)
                return object_id


_CITIES = (
    ("Lyon", "FR", 45.76, 4.83),
    ("Pune", "IN", 18.52, 73.86),
    ("Austin", "US", 30.27, -97.74),
    ("Porto", "PT", 41.15, -8.61),
    ("Osaka", "JP", 34.69, 135.50),
    ("Lagos", "NG", 6.52, 3.38),
    ("Quito", "EC", -0.18, -78.47),
    ("Hamburg", "DE", 53.55, 9.99),
    ("Chennai", "IN", 13.08, 80.27),
    ("Denver", "US", 39.74, -104.99),
)
_SITE_KINDS = (" Depot ", " Site ", " Plant ", " Office ", " Warehouse ", " Yard ")
_STREETS = (" Main St", " Harbour Rd", " Station Ave", " Mill Lane", " Ring Rd", " Park Blvd")
_TAGS = ("A", "B", "C", "D")
#: every subset of _TAGS, indexed by bit mask (checkbox values such as ["A", "C"])
_TAG_SETS = tuple(tuple(t for bit, t in enumerate(_TAGS) if mask >> bit & 1) for mask in range(16))
_CURRENCIES = ("USD", "EUR", "INR")
_STATUSES = ("Draft", "Submitted", "Approved", "Rejected")
_FINDINGS = ("corrosion", "leak", "missing label", "loose bolt", "crack", "wear")
_CATEGORIES = ("safety", "quality", "environment")
_OPENED_DAYS = [date.fromordinal(date(2000, 1, 1).toordinal() + n).isoformat() for n in range(9000)]
_INSPECTED_DAYS = [
    date.fromordinal(date(2024, 1, 1).toordinal() + n).isoformat() for n in range(545)
]
#: ".000" .. ".990": the cents part of a currency label, by lookup (speed)
_CENTS_TEXT = [f".{cents:02d}0 " for cents in range(100)]


def _currency(cents: int, currency: str) -> dict[str, Any]:
    """Exto's currency object for an amount in cents: `{label: "12.000 USD", value: 12, ...}`."""
    return {
        "label": str(cents // 100) + _CENTS_TEXT[cents % 100] + currency,
        "value": cents / 100,
        "currency": currency,
    }


def location_fields(rng: random.Random, number: int, people: Sequence[str], _: int) -> Record:
    """customFields of a LOCATION-like master record; `number` is its unique serial_number."""
    r = rng.random
    city, country, lat, lon = _CITIES[int(r() * len(_CITIES))]
    return {
        "serial_number": number,
        "name": city + _SITE_KINDS[int(r() * len(_SITE_KINDS))] + str(number),
        "city": city,
        "country": country,
        "latitude": int((lat + r() - 0.5) * 1e6) / 1e6,
        "longitude": int((lon + r() - 0.5) * 1e6) / 1e6,
        "capacity": int(r() * 5000),
        "active": r() < 0.8,
        "tags": list(_TAG_SETS[int(r() * 16)]),
        "address": {
            "street": str(1 + int(r() * 400)) + _STREETS[int(r() * len(_STREETS))],
            "zip": str(10000 + int(r() * 90000)),
        },
        "opened_on": _OPENED_DAYS[int(r() * len(_OPENED_DAYS))],
        "budget": _currency(int(r() * 10_000_000), _CURRENCIES[int(r() * len(_CURRENCIES))]),
        "manager": people[int(r() * len(people))] if r() < 0.7 else None,
        "notes": f"gate code {int(r() * 9999):04d}" if r() < 0.3 else None,
    }


def inspection_fields(
    rng: random.Random, number: int, people: Sequence[str], masters: int
) -> Record:
    """customFields of an INSPECTION-like module record; recordNumber is `INSP-<number>`."""
    r = rng.random
    mask = int(r() * 64)
    return {
        "recordNumber": f"INSP-{number}",
        "status": _STATUSES[int(r() * len(_STATUSES))],
        "inspector": people[int(r() * len(people))],
        "location_serial": 1 + int(r() * masters) if masters else None,
        "score": int(r() * 1000) / 10,
        "passed": r() < 0.7,
        "findings": [f for bit, f in enumerate(_FINDINGS) if mask >> bit & 1 and r() < 0.5],
        "inspected_on": _INSPECTED_DAYS[int(r() * len(_INSPECTED_DAYS))],
        "duration_minutes": 5 + int(r() * 240),
        "cost": _currency(int(r() * 500_000), _CURRENCIES[int(r() * len(_CURRENCIES))]),
        "details": {"category": _CATEGORIES[int(r() * 3)], "severity": 1 + int(r() * 5)},
        "remarks": "follow-up needed" if r() < 0.2 else None,
    }


FieldMaker = Callable[[random.Random, int, Sequence[str], int], Record]


@dataclass
class RecordFactory:
    """Builds and rewrites the records of one collection."""

    make_fields: FieldMaker
    #: customFields that a generation may change
    mutable: tuple[str, ...]
    ids: IdFactory
    people: tuple[str, ...]
    projects: tuple[str, ...]
    #: passed to make_fields (how many masters a module record may point at)
    context: int = 0
    next_number: int = 1

    def new(self, rng: random.Random, created_ms: int, updated_ms: int) -> Record:
        """A fresh record created at `created_ms` (its `_id` carries that second)."""
        number = self.next_number
        self.next_number += 1
        object_id = self.ids.new(rng, created_ms // 1000)
        slug = directory.short_id(rng)
        people = self.people
        created_by = people[int(rng.random() * len(people))]
        updated_by = (
            created_by if updated_ms == created_ms else people[int(rng.random() * len(people))]
        )
        return {
            "_id": object_id,
            "id": object_id,
            "customFields": self.make_fields(rng, number, people, self.context),
            "parentID": None,
            "slug": slug,
            "refId": slug,
            "tenantID": directory.TENANT_ID,
            "projectID": self.projects[int(rng.random() * len(self.projects))],
            "createdBy": created_by,
            "createdAt": iso_ms(created_ms),
            "updatedBy": updated_by,
            "updatedAt": iso_ms(updated_ms),
            "isDeleted": False,
        }

    def changed(self, rng: random.Random, record: Record, updated_ms: int) -> Record:
        """A copy of `record` with new mutable field values and a new updatedAt/updatedBy."""
        fresh = self.make_fields(rng, 0, self.people, self.context)  # the number is not mutable
        new_custom = {**record["customFields"], **{name: fresh[name] for name in self.mutable}}
        return {
            **record,
            "customFields": new_custom,
            "updatedBy": self.people[int(rng.random() * len(self.people))],
            "updatedAt": iso_ms(updated_ms),
        }
