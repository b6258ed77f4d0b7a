"""How the Exto dataset is first generated: base records, masters with the poison, bad-bytes and
corpus records at their positions, tied `updatedAt` stamps; and the type flips of `flip_types`.
Plain functions that `data.ExtoDataset` calls."""

from __future__ import annotations

import functools
import itertools
import math
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from syncer.sandbox.exto import bad_bytes, poison_corpus
from syncer.sandbox.exto.bad_bytes import BadBytesEntry
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.fields import Record
from syncer.sandbox.exto.poison_corpus import CorpusEntry
from syncer.sandbox.exto.records import BASE_END_MS, BASE_START_MS, DAY_MS, RecordFactory, iso_ms

#: where poison records sit in insertion order (the duplicate follows the record at the last one)
POISON_POSITIONS = (3, 5, 8, 13, 21, 34)
BIG_FIELD_CHARS = 10 * 1024 * 1024 + 4096


def base_records(factory: RecordFactory, seed: int, kind: str, count: int) -> Iterator[Record]:
    """`count` records created in order, spread over 2024-01-01 .. 2025-06-30 (a stream: 300k
    dicts held at once would cost more memory than the collection that stores them)."""
    rng = random.Random(f"{seed}:{kind}")
    step = (BASE_END_MS - BASE_START_MS) // max(count, 1)
    for i in range(count):
        created = BASE_START_MS + i * step + int(rng.random() * step)
        roll = rng.random()
        updated = created if roll < 0.4 else min(BASE_END_MS, created + int(roll * 60 * DAY_MS))
        yield factory.new(rng, created, updated)


def tie_updated_at(coll: Collection, count: int) -> None:
    """Give `count` records one `updatedAt`: a contiguous run in `_id` order (poison records left
    out) starting at the middle (index len // 2), moved back just enough to fit when the run
    would pass the end. The shared value is the latest `updatedAt` of the run (so every
    `createdAt` stays <= it), moved on by 1 ms while a record outside the run holds it."""
    order = coll.select("_id", False, None, ())
    seqs = [seq for seq in order.page(0, order.total) if seq not in coll.poison]
    if count > len(seqs):
        raise ValueError(f"tied_updated_at: only {len(seqs)} records can be tied")
    start = min(len(seqs) // 2, len(seqs) - count)
    run = {seq: coll.get(seq) for seq in seqs[start : start + count]}
    tied_ms = max(_epoch_ms(record["updatedAt"]) for record in run.values())
    while any(seq not in run for seq in coll.find("updatedAt", iso_ms(tied_ms))):
        tied_ms += 1
    tied = iso_ms(tied_ms)
    coll.replace({seq: {**record, "updatedAt": tied} for seq, record in run.items()})


def _epoch_ms(stamp: str) -> int:
    """Epoch milliseconds of an ISO-8601 UTC timestamp such as `2025-02-27T02:20:06.958Z`."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def insert_masters(
    coll: Collection, records: Iterator[Record], config: ExtoConfig
) -> tuple[list[CorpusEntry], list[BadBytesEntry]]:
    """Insert the master `records`, poisoned as `poison`, `poison_corpus` and `bad_bytes` ask;
    return the corpus manifest and the bad bytes' one.

    Each planned position (an index in the final insertion order) takes the next good record and
    puts the bad record(s) made of it there instead: one for most kinds, two for the duplicates
    (the extra one shifting the good records after it by one).
    """
    count = config.master_records
    plan: dict[int, Callable[[Record], list[Record]]] = {}
    kinds: dict[int, str] = {}
    if config.poison:
        if count <= POISON_POSITIONS[-1]:
            raise ValueError(f"poison needs more than {POISON_POSITIONS[-1]} master records")
        plan.update(_poison_plan())
    if config.poison_corpus:
        for kind, position in poison_corpus.positions(count).items():
            if position in plan or position - 1 in plan:
                raise ValueError(f"poison_corpus: position {position} is taken")
            plan[position] = functools.partial(poison_corpus.corrupt, kind)
            kinds[position] = kind
    chosen = bad_bytes.positions(config.seed, config.bad_bytes, count, set(plan))
    undecodable = bad_bytes.plan(config.seed, chosen)
    for position, (kind, served) in undecodable.items():
        plan[position] = functools.partial(_bad_bytes_record, kind, served)
    manifest: list[CorpusEntry] = []
    bad_manifest: list[BadBytesEntry] = []
    done = 0
    for position in sorted(plan):
        coll.insert(itertools.islice(records, position - done))
        bad = plan[position](next(records))
        coll.insert(bad, poison=True)
        done = position + len(bad)
        if position in kinds:
            manifest.append(poison_corpus.entry(kinds[position], position, bad[0]))
        if position in undecodable:
            kind, served = undecodable[position]
            bad_manifest.append(bad_bytes.entry(kind, served, position, bad[0]))
    coll.insert(records)
    return manifest, bad_manifest


def _bad_bytes_record(kind: str, served: bytes, record: Record) -> list[Record]:
    return [bad_bytes.corrupt(kind, served, record)]


def _poison_plan() -> dict[int, Callable[[Record], list[Record]]]:
    """The `poison` knob's records at POISON_POSITIONS (the last one a duplicate pair)."""
    nul, surrogate, nan, no_id, big, duplicated = POISON_POSITIONS
    return {
        nul: lambda r: [with_fields(r, notes="gate code\u0000 12")],
        surrogate: lambda r: [with_fields(r, name="Lyon Depot \ud800")],
        nan: lambda r: [with_fields(r, latitude=float("nan"))],
        no_id: lambda r: [{k: v for k, v in r.items() if k not in ("_id", "id")}],
        big: lambda r: [with_fields(r, notes="x" * BIG_FIELD_CHARS)],
        duplicated: lambda r: [r, dict(r)],
    }


#: what `flip_types` changes: customFields name -> (the JSON type it expects, its new value)
FLIPS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "latitude": ("number", lambda v: repr(v) if isinstance(v, float) else str(v)),
    "opened_on": ("date", lambda v: int(v.replace("-", ""))),
    "country": ("string", lambda v: True),
}


def flipped(custom: Any) -> Record | None:
    """`custom` with the FLIPS applied to the values of the type they expect (a finite number;
    a `YYYY-MM-DD` string; a string), or None when none has."""
    if not isinstance(custom, dict):
        return None
    new = dict(custom)
    flipped = False
    for name, (kind, flip) in FLIPS.items():
        value = custom.get(name)
        if _flippable(kind, value):
            new[name] = flip(value)
            flipped = True
    return new if flipped else None


def _flippable(kind: str, value: Any) -> bool:
    if kind == "number":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if kind == "date":
        return isinstance(value, str) and _DATE.fullmatch(value) is not None
    return isinstance(value, str)


_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def with_fields(record: Record, **custom: Any) -> Record:
    return {**record, "customFields": {**record["customFields"], **custom}}
