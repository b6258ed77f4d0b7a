"""`Table`: one model's live items in (pk, sk) order, each kept with its served JSON.

Lookups by position use bisection on the sorted key list, so a page costs a slice however large the
table; every key the table ever held is remembered, so a cursor naming a since-deleted item stays
valid (DynamoDB accepts any well-formed start key). Items with an `expires` date are tracked so that
`purge` can drop them once sandbox time reaches it (DynamoDB TTL).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator

import orjson

from syncer.sandbox.ioto.clock import instant_ms
from syncer.sandbox.ioto.models import Item, Key, KeyCondition, Model

#: sorts after every character a key holds, to close a prefix span
_HIGHEST = "\U0010ffff"


class Table:
    """The live items of one model."""

    def __init__(self, model: Model, seed: int) -> None:
        self.model = model
        self.seed = seed
        #: live keys, ascending
        self.keys: list[Key] = []
        self.items: dict[Key, Item] = {}
        #: each live item's JSON exactly as pages serve it
        self.raw: dict[Key, bytes] = {}
        #: where each item falls in [0, 1): the hidden filter drops it when below filtered_ratio
        self.roll: dict[Key, float] = {}
        #: natural key -> key, live items only
        self.by_natural: dict[str, Key] = {}
        #: every key ever stored, live or deleted
        self.known: set[Key] = set()
        #: live items with an `expires` date -> that date in Unix ms
        self.expiring: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def put(self, item: Item) -> Key:
        """Insert `item`, or replace the live item with its key."""
        key = self.model.key(item)
        if key not in self.items:
            bisect.insort(self.keys, key)
            natural = self.model.natural_key(item)
            self.by_natural[natural] = key
            self.roll[key] = _roll(self.seed, self.model.name, natural)
            self.known.add(key)
        self.items[key] = item
        self.raw[key] = orjson.dumps(item)
        self._track_expiry(key, item)
        return key

    def get(self, natural: str) -> Item | None:
        """The live item whose natural key is `natural`, if any."""
        key = self.by_natural.get(natural)
        return None if key is None else self.items[key]

    def load(self, items: list[Item]) -> None:
        """Bulk insert into an empty table (one sort instead of many insertions)."""
        if self.keys:
            raise ValueError("load() needs an empty table")
        for item in items:
            key = self.model.key(item)
            natural = self.model.natural_key(item)
            if key in self.items:
                raise ValueError(f"duplicate {self.model.name} key {natural}")
            self.items[key] = item
            self.raw[key] = orjson.dumps(item)
            self.by_natural[natural] = key
            self.roll[key] = _roll(self.seed, self.model.name, natural)
            self._track_expiry(key, item)
        self.keys = sorted(self.items)
        self.known.update(self.keys)

    def delete(self, key: Key) -> Item:
        """Remove the live item at `key` and return it."""
        item = self.items.pop(key)
        del self.raw[key], self.roll[key]
        del self.by_natural[self.model.natural_key(item)]
        del self.keys[bisect.bisect_left(self.keys, key)]
        self.expiring.pop(key, None)
        return item

    def purge(self, now_ms: int) -> int:
        """Delete the items whose `expires` is at or before `now_ms`; return how many."""
        expired = [key for key, ms in self.expiring.items() if ms <= now_ms]
        for key in expired:
            self.delete(key)
        return len(expired)

    def _track_expiry(self, key: Key, item: Item) -> None:
        """Note `item`'s expiry date; the writers only store `expires` values that parse."""
        ms = instant_ms(item.get("expires"))
        if ms is None:
            self.expiring.pop(key, None)
        else:
            self.expiring[key] = ms

    def span(self, condition: KeyCondition) -> tuple[int, int]:
        """Positions [lo, hi) of the live keys `condition` reads."""
        if not condition.complete:
            return (
                bisect.bisect_left(self.keys, (condition.pk, "")),
                bisect.bisect_left(self.keys, (condition.pk + _HIGHEST, "")),
            )
        if condition.exact:
            key = (condition.pk, condition.sk)
            return bisect.bisect_left(self.keys, key), bisect.bisect_right(self.keys, key)
        return (
            bisect.bisect_left(self.keys, (condition.pk, condition.sk)),
            bisect.bisect_left(self.keys, (condition.pk, condition.sk + _HIGHEST)),
        )

    def after(self, key: Key) -> int:
        """Position of the first live key strictly after `key` (DynamoDB's ExclusiveStartKey)."""
        return bisect.bisect_right(self.keys, key)

    def live(self) -> Iterator[tuple[Key, Item]]:
        for key in self.keys:
            yield key, self.items[key]


def _roll(seed: int, model: str, natural: str) -> float:
    """A fixed fraction in [0, 1) per item, the same in every process (no hash seed involved)."""
    digest = hashlib.blake2b(f"{seed}:{model}:{natural}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
