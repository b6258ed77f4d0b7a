"""The order of a push: which outbox rows are about the same record (one key, the mirror
telling which records their names lead to), the waves that send each key's rows one after
another in outbox order, the chunks of a wave, and which rejected rows a later accepted row of
their key supersedes (docs/push.md "Order, keys and supersession"). Only `keys_of` reads the
mirror; the rest is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncer.mirror import Mirror, OutboxRow
from syncer.models import Name, PushSpec


@dataclass(frozen=True)
class Key:
    """What one row is about at the vendor, within its family of endpoints.

    `tokens` are the row's names (`refId=k3Xa9`, `customFields.serial_number=1001`) and the
    mirrored records they lead to (`#<_pk>`): two rows sharing a token are one key. `unplaced`
    is how the row names its record (`refId`) when the mirror could not place that name on a
    record; two unplaced rows naming their records in different ways might still be about the
    same record, so they count as one key too (the strictest reading the data allows).
    """

    family: str
    tokens: frozenset[str]
    unplaced: str | None = None

    def same(self, other: Key) -> bool:
        """Whether the two rows may be about the same record."""
        if self.family != other.family:
            return False
        if self.tokens & other.tokens:
            return True
        return (
            self.unplaced is not None
            and other.unplaced is not None
            and self.unplaced != other.unplaced
        )


def key_of(
    family: str,
    names: Sequence[Name],
    places: Mapping[Name, Collection[str]],
    live: Collection[Name] = (),
) -> Key:
    """The key of a row giving `names` (its own first). `places` maps a name to the mirror
    keys of the records holding it, deleted ones too (names the mirror was not asked about are
    absent); `live` holds the names that lead to a record writes still reach. A row is placed
    when its own name leads to such a record; a name leading only to deleted records says
    nothing of the record the row will reach (a new one, unknown to the mirror)."""
    assert names, "a row names its record at least once"
    tokens = {f"{'.'.join(path)}={value}" for path, value in names}
    tokens |= {f"#{pk}" for name in names for pk in places.get(name, ())}
    placed = names[0] in live
    return Key(family, frozenset(tokens), None if placed else ".".join(names[0][0]))


def waves(keys: Sequence[Key]) -> list[int]:
    """The wave of each row, rows given in outbox order: one past the last wave holding an
    earlier row of the same key, so a key's rows go one per wave, in order, and unrelated rows
    share waves (and chunks)."""
    last: dict[tuple[str, str], int] = {}
    unplaced: dict[str, dict[str, int]] = {}
    out: list[int] = []
    for key in keys:
        wave = 1 + max((last.get((key.family, t), -1) for t in key.tokens), default=-1)
        kinds = unplaced.setdefault(key.family, {})
        if key.unplaced is not None:
            wave = max([wave, *(at + 1 for kind, at in kinds.items() if kind != key.unplaced)])
            kinds[key.unplaced] = max(kinds.get(key.unplaced, -1), wave)
        for token in key.tokens:
            last[(key.family, token)] = wave
        out.append(wave)
    return out


@dataclass
class Superseding:
    """The rows a push has seen rejected, kept until a later accepted row of their key
    supersedes them."""

    _by_token: dict[tuple[str, str], dict[int, Key]] = field(default_factory=dict)
    _unplaced: dict[str, dict[int, Key]] = field(default_factory=dict)

    def rejected(self, row_id: int, key: Key) -> None:
        for token in key.tokens:
            self._by_token.setdefault((key.family, token), {})[row_id] = key
        if key.unplaced is not None:
            self._unplaced.setdefault(key.family, {})[row_id] = key

    def superseded_by(self, row_id: int, key: Key) -> list[int]:
        """The rejected rows before `row_id` that its acceptance supersedes (forgotten here)."""
        found: dict[int, Key] = {}
        for token in key.tokens:
            found.update(self._by_token.get((key.family, token), {}))
        if key.unplaced is not None:
            found.update(
                (i, k)
                for i, k in self._unplaced.get(key.family, {}).items()
                if k.unplaced != key.unplaced
            )
        gone = sorted(i for i in found if i < row_id)
        for i in gone:
            self._forget(i, found[i])
        return gone

    def _forget(self, row_id: int, key: Key) -> None:
        for token in key.tokens:
            self._by_token.get((key.family, token), {}).pop(row_id, None)
        self._unplaced.get(key.family, {}).pop(row_id, None)


async def keys_of(
    mirror: Mirror,
    connection: str,
    rows: list[OutboxRow],
    specs: Mapping[tuple[str, str], PushSpec],
) -> dict[int, Key]:
    """Each row's key: its names, and the mirrored records they lead to. Only streams
    syncer already mirrors are asked (a push registers none before the vendor accepts)."""
    named: dict[int, list[Name]] = {}
    wanted: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    gone: dict[str, Callable[[dict[str, Any]], bool]] = {}
    for row in rows:
        spec = specs[(row.endpoint, row.operation)]
        named[row.id] = (
            spec.order.names(row.payload) if spec.order.names else [((), spec.key(row.payload))]
        )
        for path, value in named[row.id]:
            if path and spec.follow.stream is not None:
                wanted.setdefault((spec.follow.stream, path), set()).add(value)
        if spec.follow.stream is not None and spec.follow.gone is not None:
            gone[spec.follow.stream] = spec.follow.gone
    places: dict[tuple[str, Name], set[str]] = {}
    live: set[tuple[str, Name]] = set()
    for (stream, path), values in wanted.items():
        ref = await mirror.find_stream(connection, stream)
        if ref is None:
            continue
        found = await mirror.follow.records_named(ref.table, path, sorted(values))
        for value, held in found.items():
            places[(stream, (path, value))] = set(held)
            if any(r is not None and not gone.get(stream, _never)(r) for r in held.values()):
                live.add((stream, (path, value)))
    keys: dict[int, Key] = {}
    for row in rows:
        spec = specs[(row.endpoint, row.operation)]
        stream = spec.follow.stream or ""
        mine = {n: places.get((stream, n), set()) for n in named[row.id]}
        alive = {n for n in named[row.id] if (stream, n) in live}
        family = spec.order.family or spec.endpoint
        keys[row.id] = key_of(family, named[row.id], mine, alive)
    return keys


def _never(record: dict[str, Any]) -> bool:
    """Records of streams whose vendor has no soft delete: never gone while mirrored."""
    return False


def chunks(spec: PushSpec, rows: list[OutboxRow]) -> list[list[OutboxRow]]:
    """Chunks of at most max_chunk rows, a key never twice in one chunk (the vendor's counts
    would not say which of the two won)."""
    by_group: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_group.setdefault(spec.group(row.payload) if spec.group else "", []).append(row)
    out: list[list[OutboxRow]] = []
    for members in by_group.values():
        out.append([])
        keys: set[str] = set()
        for row in members:
            key = spec.key(row.payload)
            if len(out[-1]) >= spec.max_chunk or key in keys:
                out.append([])
                keys = set()
            out[-1].append(row)
            keys.add(key)
    return [c for c in out if c]
