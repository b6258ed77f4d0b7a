"""The Exto dataset: deterministic records, users and groups, plus the switches that change it.

Everything derives from `SandboxConfig.seed` and a counter (generation number, churn step); no wall
clock is read, so two processes with the same config serve byte-identical data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from syncer.sandbox import directory
from syncer.sandbox.collection import Collection, Selection, collector_paused
from syncer.sandbox.config import SandboxConfig
from syncer.sandbox.fields import Record

_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
BASE_START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
BASE_END_MS = int(datetime(2025, 6, 30, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
#: generation g happens at this instant + g days
GENERATION_EPOCH_MS = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000)
#: churn inserts are backdated from here, one minute apart, so they sort before every base record
CHURN_EPOCH_S = int(datetime(2023, 12, 31, tzinfo=UTC).timestamp())
#: where poison records sit in insertion order (the duplicate follows the record at the last one)
POISON_POSITIONS = (3, 5, 8, 13, 21, 34)
BIG_FIELD_CHARS = 10 * 1024 * 1024 + 4096

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
_OPENED_BASE_DAYS = (date(2000, 1, 1).toordinal() - _EPOCH_ORDINAL, 9000)
_INSPECTED_BASE_DAYS = (date(2024, 1, 1).toordinal() - _EPOCH_ORDINAL, 545)


def _currency(cents: int, currency: str) -> dict[str, Any]:
    """Exto's currency object for an amount in cents: `{label: "12.000 USD", value: 12, ...}`."""
    units, rest = divmod(cents, 100)
    return {"label": f"{units}.{rest:02d}0 {currency}", "value": cents / 100, "currency": currency}


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
        "opened_on": day_text(_OPENED_BASE_DAYS[0] + int(r() * _OPENED_BASE_DAYS[1])),
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
        "inspected_on": day_text(_INSPECTED_BASE_DAYS[0] + int(r() * _INSPECTED_BASE_DAYS[1])),
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
        custom = record["customFields"]
        number = custom.get("serial_number") or 0
        fresh = self.make_fields(rng, number, self.people, self.context)
        new_custom = {**custom, **{name: fresh[name] for name in self.mutable}}
        return {
            **record,
            "customFields": new_custom,
            "updatedBy": self.people[int(rng.random() * len(self.people))],
            "updatedAt": iso_ms(updated_ms),
        }


@dataclass(frozen=True)
class GenerationResult:
    """What one `generation()` did to masters and modules, as `_id`s."""

    changed_ids: tuple[str, ...]
    deleted_ids: tuple[str, ...]
    inserted_ids: tuple[str, ...]
    generation: int = 0


@dataclass
class Dataset:
    """All live Exto data of one sandbox and the deterministic ways it changes."""

    seed: int
    collections: dict[tuple[str, str], Collection]
    factories: dict[tuple[str, str], RecordFactory]
    users: list[Record]
    projects: list[Record]
    tenant_groups: list[str]
    generation_number: int = 0
    churn_step: int = field(default=0)

    @classmethod
    def build(cls, config: SandboxConfig) -> Dataset:
        """Generate the dataset `config` describes."""
        with collector_paused():
            return cls._build(config)

    @classmethod
    def _build(cls, config: SandboxConfig) -> Dataset:
        projects = directory.make_projects(config.seed, config.projects)
        users = directory.make_users(config.seed, config.users, projects)
        people = tuple(u["user"]["email"] for u in users) or ("sandbox@example.com",)
        record_projects = tuple(p["projectID"] for p in projects[:3])
        ids = IdFactory()
        master = RecordFactory(
            location_fields,
            ("capacity", "active", "tags", "budget", "manager", "notes"),
            ids,
            people,
            record_projects,
        )
        module = RecordFactory(
            inspection_fields,
            ("status", "score", "passed", "findings", "remarks", "cost"),
            ids,
            people,
            record_projects,
            context=config.master_records,
        )
        master_key = ("master", config.master_name)
        module_key = ("module", config.module_name)
        masters = _base_records(master, config.seed, "master", config.master_records)
        collections = {master_key: Collection(*master_key), module_key: Collection(*module_key)}
        if config.poison:
            _insert_with_poison(collections[master_key], masters)
        else:
            collections[master_key].insert(masters)
        collections[module_key].insert(
            _base_records(module, config.seed, "module", config.module_records)
        )
        return cls(
            seed=config.seed,
            collections=collections,
            factories={master_key: master, module_key: module},
            users=users,
            projects=projects,
            tenant_groups=list(directory.TENANT_GROUPS),
        )

    def generation(
        self, change_pct: float, delete_pct: float, insert_pct: float
    ) -> GenerationResult:
        """Advance one generation: change, hard-delete and insert a share of each collection.

        Counts are percentages of each collection's live count, rounded half up; the records are
        chosen by an RNG seeded with (seed, generation, collection). Poison records are left alone.
        """
        with collector_paused():
            return self._generation(change_pct, delete_pct, insert_pct)

    def _generation(
        self, change_pct: float, delete_pct: float, insert_pct: float
    ) -> GenerationResult:
        self.generation_number += 1
        g = self.generation_number
        base_ms = GENERATION_EPOCH_MS + g * _DAY_MS
        changed: list[str] = []
        deleted: list[str] = []
        inserted: list[str] = []
        for key, coll in self.collections.items():
            factory = self.factories[key]
            rng = random.Random(f"{self.seed}:generation:{g}:{key[0]}:{key[1]}")
            live = len(coll)
            n_change, n_delete, n_insert = (
                _share(live, pct) for pct in (change_pct, delete_pct, insert_pct)
            )
            eligible = [seq for seq in coll.seqs() if seq not in coll.poison]
            picks = rng.sample(eligible, min(len(eligible), n_change + n_delete))
            changes = {
                seq: factory.changed(rng, coll.get(seq), base_ms + offset)
                for offset, seq in enumerate(picks[:n_change])
            }
            coll.replace(changes)
            changed.extend(record["_id"] for record in changes.values())
            doomed = picks[n_change:]
            deleted.extend(coll.get(seq)["_id"] for seq in doomed)
            coll.delete(doomed)
            start = base_ms + len(changes)
            new = [factory.new(rng, start + i, start + i) for i in range(n_insert)]
            coll.insert(new)
            inserted.extend(record["_id"] for record in new)
        return GenerationResult(tuple(changed), tuple(deleted), tuple(inserted), g)

    def churn(
        self, coll: Collection, selection: Selection, offset: int, inserts: int, deletes: int
    ) -> None:
        """Mutate `coll` after a page served at `offset` of `selection`, like a live collection.

        Deletes pick records before the page (so the next offset skips one); inserts are backdated
        (`_id` and createdAt before every other record, updatedAt at the current generation time)
        so they sort first by `_id` or createdAt (and the next offset repeats one).
        """
        self.churn_step += 1
        step = self.churn_step
        rng = random.Random(f"{self.seed}:churn:{coll.kind}:{coll.name}:{step}")
        if deletes and offset:
            positions = rng.sample(range(offset), min(offset, deletes + len(coll.poison)))
            seqs = [selection.seq_at(p) for p in positions]
            coll.delete([seq for seq in seqs if seq not in coll.poison][:deletes])
        if inserts:
            factory = self.factories[(coll.kind, coll.name)]
            now_ms = GENERATION_EPOCH_MS + self.generation_number * _DAY_MS
            new = []
            for i in range(inserts):
                created_s = CHURN_EPOCH_S - 60 * (step * inserts + i)
                new.append(factory.new(rng, created_s * 1000, now_ms + step))
            coll.insert(new)


def _share(live: int, pct: float) -> int:
    """`pct` percent of `live`, rounded half up."""
    return int(live * pct / 100 + 0.5)


def _base_records(factory: RecordFactory, seed: int, kind: str, count: int) -> list[Record]:
    """`count` records created in order, spread over 2024-01-01 .. 2025-06-30."""
    rng = random.Random(f"{seed}:{kind}")
    step = (BASE_END_MS - BASE_START_MS) // max(count, 1)
    records = []
    for i in range(count):
        created = BASE_START_MS + i * step + int(rng.random() * step)
        roll = rng.random()
        updated = created if roll < 0.4 else min(BASE_END_MS, created + int(roll * 60 * _DAY_MS))
        records.append(factory.new(rng, created, updated))
    return records


def _insert_with_poison(coll: Collection, records: list[Record]) -> None:
    """Insert `records`, poisoned at POISON_POSITIONS (replacing good ones, plus a duplicate)."""
    if len(records) <= POISON_POSITIONS[-1]:
        raise ValueError(f"poison needs more than {POISON_POSITIONS[-1]} master records")
    nul, surrogate, nan, no_id, big, duplicated = POISON_POSITIONS
    bad = {
        nul: _with_fields(records[nul], notes="gate code\u0000 12"),
        surrogate: _with_fields(records[surrogate], name="Lyon Depot \ud800"),
        nan: _with_fields(records[nan], latitude=float("nan")),
        no_id: {k: v for k, v in records[no_id].items() if k not in ("_id", "id")},
        big: _with_fields(records[big], notes="x" * BIG_FIELD_CHARS),
    }
    start = 0
    for position in sorted(bad):
        coll.insert(records[start:position])
        coll.insert([bad[position]], poison=True)
        start = position + 1
    coll.insert(records[start:duplicated])
    coll.insert([records[duplicated], dict(records[duplicated])], poison=True)
    coll.insert(records[duplicated + 1 :])


def _with_fields(record: Record, **custom: Any) -> Record:
    return {**record, "customFields": {**record["customFields"], **custom}}
