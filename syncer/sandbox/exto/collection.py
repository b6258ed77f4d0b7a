"""One live Exto collection (a master or a module): its records and cached sort orders.

Records are kept as their served JSON, in insertion order under an internal sequence number, so
records without `_id` or with a duplicate `_id` (poison data) can live side by side. A sort order
is a sorted list of keys `(type rank, value, _id, seq)` built once per sort field and then kept up
to date as records come and go (by bisection, or for big batches by one filter-and-merge pass), so
an unfiltered page costs a slice and a join, never a scan. Filtered or project-scoped requests scan
(decoding each record) once and keep their result until the data changes.
"""

from __future__ import annotations

import bisect
import gc
import json
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from syncer.sandbox.exto import deepjson, fields

Key = tuple[Any, ...]
Predicate = Callable[[fields.Record], bool]

#: a mutation touching more records than this re-merges each cached order in one pass (no record
#: decoded) instead of patching it key by key
_PATCH_LIMIT = 256
#: how many filtered selections each collection remembers
_SELECTION_CACHE = 32


@dataclass(frozen=True)
class Selection:
    """The records one list request sees, in its order: either a whole sort order or a scan."""

    keys: list[Key] | None
    seqs: list[int] | None
    descending: bool

    @property
    def total(self) -> int:
        return len(self.seqs) if self.seqs is not None else len(self.keys or ())

    def seq_at(self, position: int) -> int:
        if self.seqs is not None:
            return self.seqs[position]
        assert self.keys is not None
        index = self.total - 1 - position if self.descending else position
        return int(self.keys[index][-1])

    def page(self, offset: int, size: int) -> list[int]:
        """Sequence numbers at positions offset .. offset+size-1 (fewer past the end)."""
        if self.seqs is not None:
            return self.seqs[offset : offset + size]
        assert self.keys is not None
        if not self.descending:
            return [key[-1] for key in self.keys[offset : offset + size]]
        stop = self.total - offset
        start = max(stop - size, 0)
        return [key[-1] for key in reversed(self.keys[start:stop])] if stop > 0 else []


def _encode_poison(record: fields.Record) -> bytes:
    """The stdlib's encoding (`NaN`, `\\ud800` escapes, which orjson refuses), at any depth;
    the characters U+DC80..U+DCFF (bytes that are not UTF-8, `bad_bytes`) as those raw bytes."""
    try:
        text = json.dumps(record, allow_nan=True)
    except RecursionError:  # nested deeper than the stdlib recurses (the corpus's `deep`)
        text = deepjson.dumps(record)
    raw = text.encode()
    if b"\\udc" not in raw:
        return raw
    return _ESCAPED_BYTE.sub(lambda m: m[1] + bytes.fromhex(m[2].decode()), raw)


#: an escape `\\udc80`..`\\udcff` written by the encoder (after an even run of backslashes, so not
#: the text of an escaped backslash): the bad byte 0x80..0xFF it stands for
_ESCAPED_BYTE = re.compile(rb"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


def _encode(record: fields.Record) -> bytes:
    """orjson's encoding, copied to an exact-size bytes: orjson's own result keeps its whole
    write buffer (about 8 KB whatever the record's size), which at 300k records is gigabytes."""
    return memoryview(orjson.dumps(record)).tobytes()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many objects (records, sort keys) at once.

    Otherwise it rescans the growing heap many times over, doubling the build time; the objects
    built hold no reference cycles, so nothing is left for the collector to find afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Padding:
    """Large incompressible values made on the fly (the `record_padding` knob): a record stores
    PLACEHOLDER and is served with `size` hex characters cut from one random block at an offset
    of its own, so 1 MB records cost no memory in the sandbox."""

    PLACEHOLDER = "@@sandbox-padding@@"
    _QUOTED = b'"' + PLACEHOLDER.encode() + b'"'
    _SPREAD = 1 << 20

    def __init__(self, seed: int, size: int) -> None:
        rng = random.Random(f"{seed}:padding")
        self.size = size
        self.block = rng.randbytes((size + self._SPREAD) // 2 + 1).hex().encode()

    def splice(self, seq: int, raw: bytes) -> bytes:
        if self._QUOTED not in raw:
            return raw  # a record rewritten since (a write, a generation) holds its own value
        start = (seq * 7_919) % self._SPREAD
        value = b'"' + self.block[start : start + self.size] + b'"'
        return raw.replace(self._QUOTED, value, 1)


class Collection:
    """A master or module collection with its sort-order and selection caches."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        #: bumped by every change; part of every selection cache key
        self.version = 0
        self.poison: set[int] = set()
        #: seq -> the record's JSON as served; keeping bytes, not dicts, saves two thirds of the
        #: memory (and the build time it costs) and makes a page a join, not an encoding
        self._rows: dict[int, bytes] = {}
        self._next_seq = 0
        self._orders: dict[str, list[Key]] = {}
        self._getters: dict[str, fields.Getter] = {}
        self._selections: OrderedDict[Hashable, list[int]] = OrderedDict()
        #: `record_padding`: each record's padding is made when it is served, never stored
        self.padding: Padding | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def records(self) -> list[fields.Record]:
        """The live records in insertion order, freshly decoded (changing them changes nothing)."""
        return [self.get(seq) for seq in self._rows]

    def seqs(self) -> list[int]:
        return list(self._rows)

    def get(self, seq: int) -> fields.Record:
        """Record `seq`, decoded from the JSON the API serves."""
        raw = self.raw(seq)
        if seq in self.poison:  # bad bytes (`bad_bytes`) come back as U+DC80..U+DCFF
            poison: fields.Record = deepjson.loads(raw.decode("utf-8", "surrogateescape"))
            return poison
        record: fields.Record = orjson.loads(raw)
        return record

    def raw(self, seq: int) -> bytes:
        """Record `seq` as served: orjson's encoding, or the stdlib's for poison records (with
        its padding spliced in, when the collection pads records)."""
        raw = self._rows[seq]
        if self.padding is not None:
            return self.padding.splice(seq, raw)
        return raw

    def insert(self, records: Iterable[fields.Record], *, poison: bool = False) -> list[int]:
        """Append records; return their sequence numbers.

        Poison records are encoded by the stdlib (`NaN`, `\\ud800` escapes), which orjson refuses
        (`deepjson` writing the same text for those nested deeper than the stdlib recurses).
        """
        added: list[tuple[int, fields.Record]] = []
        for record in records:
            seq = self._next_seq
            self._next_seq += 1
            if poison:
                self._rows[seq] = _encode_poison(record)
                self.poison.add(seq)
            else:
                self._rows[seq] = _encode(record)
            # the dict is kept only while sort orders need its keys (never while building)
            added.append((seq, record if self._orders else {}))
        self._changed()
        self._reorder([], added)
        return [seq for seq, _ in added]

    def delete(self, seqs: Iterable[int]) -> None:
        """Remove records for good (Exto hard delete)."""
        doomed = list(seqs)
        self._changed()
        self._reorder([(seq, self._old(seq, len(doomed))) for seq in doomed], [])
        for seq in doomed:
            del self._rows[seq]
            self.poison.discard(seq)

    def replace(self, changes: dict[int, fields.Record]) -> None:
        """Swap in new versions of existing records, keeping their insertion place.

        A poison record stays poison: its new version is encoded by the stdlib too.
        """
        self._changed()
        old = [(seq, self._old(seq, 2 * len(changes))) for seq in changes]
        self._reorder(old, list(changes.items()))
        for seq, record in changes.items():
            if seq in self.poison:
                self._rows[seq] = _encode_poison(record)
            else:
                self._rows[seq] = _encode(record)

    def find(self, field: str, value: Any) -> list[int]:
        """Sequence numbers of the records whose `field` equals `value` (same JSON type), in
        `_id` order; `field` resolves as in `sort`, and its sort order is built on first use."""
        keys = self._order(field) if field else []
        probe = fields.sort_value(value)
        # a key is (type rank, value, _id, seq): the probe sorts just before its equals
        index = bisect.bisect_left(keys, probe)
        found = []
        while index < len(keys) and keys[index][:2] == probe:
            found.append(int(keys[index][-1]))
            index += 1
        return found

    def select(
        self, sort: str, descending: bool, predicate: Predicate | None, scope: Hashable
    ) -> Selection:
        """The records a request sees: the sort order of `sort` ("" = insertion), filtered if asked.

        `scope` identifies `predicate` (filter text, time zone, project, ...) for the cache.
        """
        keys = self._order(sort)
        if predicate is None:
            return Selection(keys=keys, seqs=None, descending=descending)
        cache_key = (self.version, sort, descending, scope)
        seqs = self._selections.get(cache_key)
        if seqs is None:
            get = self.get
            ordered = reversed(keys) if descending else keys
            seqs = [key[-1] for key in ordered if predicate(get(key[-1]))]
            self._selections[cache_key] = seqs
            if len(self._selections) > _SELECTION_CACHE:
                self._selections.popitem(last=False)
        else:
            self._selections.move_to_end(cache_key)
        return Selection(keys=None, seqs=seqs, descending=descending)

    def warm(self, sort_fields: Iterable[str]) -> None:
        """Build the sort orders of `sort_fields` ahead of the requests that will use them."""
        for field in sort_fields:
            self._order(field)

    def _order(self, field: str) -> list[Key]:
        """The cached ascending sort order for `field`, built on first use."""
        keys = self._orders.get(field)
        if keys is None:
            if not field:
                keys = [(seq,) for seq in self._rows]
            else:
                with collector_paused():
                    keys = sorted(self._key(field, seq, self.get(seq)) for seq in self._rows)
            self._orders[field] = keys
        return keys

    def _key(self, field: str, seq: int, record: fields.Record) -> Key:
        """Sort key: the field's value, ties broken by `_id`, then by insertion."""
        if not field:
            return (seq,)
        get = self._getters.get(field)
        if get is None:
            get = self._getters[field] = fields.getter(field)
        record_id = record.get("_id")
        return (
            *fields.sort_value(get(record)),
            record_id if isinstance(record_id, str) else "",
            seq,
        )

    def _old(self, seq: int, keys_moved: int) -> fields.Record:
        """Record `seq` as stored, when `_reorder` will patch the orders key by key (moving
        `keys_moved` keys per order) and so needs its old keys; else nothing is decoded."""
        return self.get(seq) if self._orders and keys_moved <= _PATCH_LIMIT else {}

    def _reorder(
        self, removed: list[tuple[int, fields.Record]], added: list[tuple[int, fields.Record]]
    ) -> None:
        """Bring every cached order up to date: drop the keys of `removed` (seq, record as it
        was), add those of `added` (seq, record as it is now)."""
        big = len(removed) + len(added) > _PATCH_LIMIT
        for field, keys in list(self._orders.items()):
            new = [self._key(field, seq, record) for seq, record in added]
            if big:
                # one pass, no record decoded: filter by seq, append, and let Timsort merge the
                # two sorted runs (the new keys are sorted first)
                gone = {seq for seq, _ in removed}
                kept = [key for key in keys if key[-1] not in gone]
                new.sort()
                kept += new
                kept.sort()
                self._orders[field] = kept
                continue
            for seq, record in removed:
                del keys[bisect.bisect_left(keys, self._key(field, seq, record))]
            for key in new:
                bisect.insort(keys, key)

    def _changed(self) -> None:
        """Note a mutation: a new version, and no cached filtered selection survives it."""
        self.version += 1
        self._selections.clear()
