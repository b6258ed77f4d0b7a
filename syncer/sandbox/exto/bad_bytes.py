"""Master records holding bytes that are not UTF-8 (`ExtoConfig.bad_bytes`), as a vendor whose
storage took Latin-1 text, or cut a multi-byte character, would serve them.

In the sandbox, such a byte b is the character U+DC00 + b inside a record (Python's
surrogateescape, PEP 383): `Collection` serves those characters as the raw bytes, and
`sb.records()` gives them back as characters. Each bad record replaces the good record at its
position; the positions are drawn from the seed among those no other poison knob takes, and the
manifest (`ExtoDataset.bad_bytes`) says where each one is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from syncer.sandbox.exto.fields import Record

#: where the bad bytes go, in turn: a customFields value, a customFields name, the `_id`
KINDS: tuple[str, ...] = ("value", "field_name", "key")
#: byte sequences no UTF-8 decoder accepts, each between ASCII characters when served: Latin-1
#: `é`, a lone continuation byte, a two-byte character cut short, 0xFF, a surrogate encoded in
#: UTF-8 (CESU-8), an overlong `/`, a code point past U+10FFFF
SEQUENCES: tuple[bytes, ...] = (
    b"\xe9",
    b"\x80",
    b"\xc3",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
)
#: `field_name`: the customFields name is this prefix, the bad bytes, then "name"
FIELD_PREFIX = "site"


@dataclass(frozen=True)
class BadBytesEntry:
    """Where one record holding bytes that are not UTF-8 sits in the master collection."""

    #: one of KINDS
    kind: str
    #: the record's `_id` as `sb.records()` shows it (for `key`, the bad bytes as U+DC80..U+DCFF)
    id: str
    #: index in insertion order when the dataset is built
    position: int
    #: the bad bytes as served
    served: bytes
    #: what is wrong with it
    note: str


def positions(seed: int, count: int, master_records: int, taken: set[int]) -> list[int]:
    """`count` insertion positions drawn with `random.Random(f"{seed}:bad-bytes")` among the
    master records, away from `taken` and from the position after each (a duplicate's copy)."""
    blocked = set(taken) | {position + 1 for position in taken}
    free = [position for position in range(master_records) if position not in blocked]
    if count > len(free):
        raise ValueError(f"bad_bytes: only {len(free):,} positions are free")
    return sorted(random.Random(f"{seed}:bad-bytes").sample(free, count))


def plan(seed: int, chosen: list[int]) -> dict[int, tuple[str, bytes]]:
    """position -> (kind, bad bytes): kinds in turn (KINDS) over `chosen` in order, sequences
    drawn with `random.Random(f"{seed}:bad-bytes:sequences")`."""
    rng = random.Random(f"{seed}:bad-bytes:sequences")
    return {
        position: (KINDS[i % len(KINDS)], rng.choice(SEQUENCES))
        for i, position in enumerate(chosen)
    }


def corrupt(kind: str, served: bytes, record: Record) -> Record:
    """The good `record` with `served` (bytes that are not UTF-8) put where `kind` says."""
    bad = served.decode("utf-8", "surrogateescape")
    custom = record["customFields"]
    if kind == "value":
        return {**record, "customFields": {**custom, "name": f"{custom['name']} {bad}"}}
    if kind == "field_name":
        name = f"{FIELD_PREFIX}{bad}name"
        return {**record, "customFields": {**custom, name: "Depot"}}
    if kind == "key":
        object_id = record["_id"][:8] + bad + record["_id"][8:]
        return {**record, "_id": object_id, "id": object_id}
    raise ValueError(f"unknown bad_bytes kind {kind!r}")


def entry(kind: str, served: bytes, position: int, record: Record) -> BadBytesEntry:
    """The manifest entry of the bad `record` (as `corrupt` made it) at `position`."""
    where = {
        "value": "customFields.name ends with",
        "field_name": f"a customFields name {FIELD_PREFIX}<bytes>name holds",
        "key": "_id (and id) hold, after their 8th character,",
    }[kind]
    return BadBytesEntry(kind, record["_id"], position, served, f"{where} {served!r}")
