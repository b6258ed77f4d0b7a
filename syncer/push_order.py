"""The order of a push: which outbox rows are about the same record (one key), the waves that
send each key's rows one after another in outbox order, and which rejected rows a later
accepted row of their key supersedes.

Pure: which mirrored records a name leads to comes in as data (docs/push.md "Order, keys and
supersession").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from syncer.models import Name


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
