"""The poison corpus (`ExtoConfig.poison_corpus`): one master record of each kind of bad data.

Each kind replaces a good generated record at a fixed insertion position, the positions spread
evenly over the master records (`positions`); `duplicate_key` also adds a changed copy right after
its record. `ExtoDataset.build` inserts them as poison records (stored as the stdlib's JSON, never
picked by generations, churn, ties or type flips) and keeps a manifest of `CorpusEntry`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from syncer.sandbox.exto.fields import Record
from syncer.sandbox.exto.records import iso_ms

#: the kinds, in the order of their positions
KINDS: tuple[str, ...] = (
    "nul_value",
    "nul_field_name",
    "nul_key",
    "surrogate_value",
    "surrogate_field_name",
    "nan",
    "infinity",
    "negative_infinity",
    "big_value",
    "many_fields",
    "deep",
    "null_key",
    "missing_key",
    "duplicate_key",
)
#: `big_value`: the length of its string (characters, all ASCII: as many bytes)
BIG_VALUE_CHARS = 50 * 1024 * 1024
#: `many_fields`: how many fields it adds (`extra_0001` .. `extra_2000`)
MANY_FIELDS = 2_000
#: `deep`: how many objects nest in its value
DEEP_LEVELS = 1_000
#: `duplicate_key`: how much later the copy's `updatedAt` is
DUPLICATE_LATER_MS = 1_000
#: each kind sits in its own segment of the master records, at least this long
MIN_SEGMENT = 200
MIN_MASTER_RECORDS = MIN_SEGMENT * len(KINDS)

NUL_FIELD = "gate\u0000code"
SURROGATE_FIELD = "site\ud800name"
DEEP_FIELD = "nested"

NOTES: dict[str, str] = {
    "nul_value": "customFields.notes contains U+0000",
    "nul_field_name": f"customFields has the key {NUL_FIELD!r} (contains U+0000)",
    "nul_key": "_id (and id) contain U+0000",
    "surrogate_value": "customFields.name ends with a lone surrogate U+D800",
    "surrogate_field_name": f"customFields has the key {SURROGATE_FIELD!r} (a lone surrogate)",
    "nan": "customFields.latitude is NaN",
    "infinity": "customFields.longitude is Infinity",
    "negative_infinity": "customFields.latitude is -Infinity",
    "big_value": f"customFields.notes is a string of {BIG_VALUE_CHARS:,} characters (50 MiB)",
    "many_fields": f"customFields has {MANY_FIELDS:,} extra fields extra_0001..extra_{MANY_FIELDS}",
    "deep": (
        f"customFields.{DEEP_FIELD} nests {DEEP_LEVELS:,} objects {{'d': {{'d': ... 1}}}} "
        f"(the record {DEEP_LEVELS + 2:,} levels)"
    ),
    "null_key": "_id and id are null",
    "missing_key": "no _id and no id",
    "duplicate_key": (
        "this record and, at position + 1, a copy with the same _id, other customFields.capacity "
        f"and notes, and an updatedAt {DUPLICATE_LATER_MS} ms later"
    ),
}


@dataclass(frozen=True)
class CorpusEntry:
    """Where one kind of the poison corpus sits in the master collection, as built."""

    #: one of KINDS
    kind: str
    #: the record's `_id` as served (U+0000 included for `nul_key`); None when it has none
    #: (`null_key`, `missing_key`)
    id: str | None
    #: index in insertion order (the default order) when the dataset is built; `duplicate_key`'s
    #: copy is at position + 1
    position: int
    #: what is wrong with it
    note: str


def positions(master_records: int) -> dict[str, int]:
    """The insertion position of each kind among `master_records` records.

    The records are cut into len(KINDS) equal segments of `master_records // len(KINDS)`; kind i
    sits at the middle of segment i, rounded down to a multiple of 100. Raises ValueError below
    MIN_MASTER_RECORDS (segments shorter than MIN_SEGMENT).
    """
    segment = master_records // len(KINDS)
    if segment < MIN_SEGMENT:
        raise ValueError(
            f"poison_corpus needs at least {MIN_MASTER_RECORDS:,} master records, "
            f"got {master_records:,}"
        )
    return {kind: (i * segment + segment // 2) // 100 * 100 for i, kind in enumerate(KINDS)}


def corrupt(kind: str, record: Record) -> list[Record]:
    """The record(s) of `kind` made from the good `record` (which they replace)."""
    custom = record["customFields"]
    if kind == "nul_value":
        return [_custom(record, notes=f"gate\u0000code {custom['serial_number']:04d}")]
    if kind == "nul_field_name":
        return [_custom(record, **{NUL_FIELD: "4711"})]
    if kind == "nul_key":
        object_id = record["_id"][:8] + "\u0000" + record["_id"][8:]
        return [{**record, "_id": object_id, "id": object_id}]
    if kind == "surrogate_value":
        return [_custom(record, name=custom["name"] + " \ud800")]
    if kind == "surrogate_field_name":
        return [_custom(record, **{SURROGATE_FIELD: "Depot"})]
    if kind == "nan":
        return [_custom(record, latitude=float("nan"))]
    if kind == "infinity":
        return [_custom(record, longitude=float("inf"))]
    if kind == "negative_infinity":
        return [_custom(record, latitude=float("-inf"))]
    if kind == "big_value":
        return [_custom(record, notes="x" * BIG_VALUE_CHARS)]
    if kind == "many_fields":
        extra = {f"extra_{n:04d}": n % 100 for n in range(1, MANY_FIELDS + 1)}
        return [_custom(record, **extra)]
    if kind == "deep":
        return [_custom(record, **{DEEP_FIELD: deep_value()})]
    if kind == "null_key":
        return [{**record, "_id": None, "id": None}]
    if kind == "missing_key":
        return [{k: v for k, v in record.items() if k not in ("_id", "id")}]
    if kind == "duplicate_key":
        later = _later(record["updatedAt"], DUPLICATE_LATER_MS)
        copy = _custom(record, capacity=custom["capacity"] + 1, notes="changed copy")
        return [record, {**copy, "updatedAt": later}]
    raise ValueError(f"unknown poison corpus kind {kind!r}")


def deep_value(levels: int = DEEP_LEVELS) -> Any:
    """`{"d": {"d": ... 1 ...}}`, `levels` objects deep (built without recursion)."""
    value: Any = 1
    for _ in range(levels):
        value = {"d": value}
    return value


def entry(kind: str, position: int, served: Record) -> CorpusEntry:
    """The manifest entry of `kind`, first inserted as `served` at `position`."""
    object_id = served.get("_id")
    served_id = object_id if isinstance(object_id, str) else None
    return CorpusEntry(kind, served_id, position, NOTES[kind])


def _custom(record: Record, **custom: Any) -> Record:
    return {**record, "customFields": {**record["customFields"], **custom}}


def _later(stamp: str, ms: int) -> str:
    """The ISO-8601 UTC timestamp `ms` milliseconds after `stamp` (same format)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return iso_ms((moment - _EPOCH) // timedelta(milliseconds=1) + ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
