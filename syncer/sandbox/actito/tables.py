"""`Table`: one live Actito table, its rows in key order for keyset ("searchAfter") paging.

Rows are kept as the dicts the API serves and are never changed in place (a change swaps in a new
dict), so a page is a slice of the sorted keys and nothing the sandbox hands out can alias live
state by accident. Unique attributes are indexed for the v4 `profile/{attr}={value}` lookups.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from syncer.sandbox.actito.records import Record, fields, text

#: a table's key: profileId (int) or businessKey (str)
K = TypeVar("K", int, str)


class Table(Generic[K]):
    """Rows by key, the keys in ascending order, and an index per unique attribute."""

    def __init__(self, kind: str, name: str, key_type: type[K], unique: Iterable[str] = ()) -> None:
        #: "profiles" or "custom"
        self.kind = kind
        self.name = name
        self.key_type: type[K] = key_type
        self._rows: dict[K, Record] = {}
        #: every live key, ascending
        self._keys: list[K] = []
        #: attribute -> its value (as `text`) -> key
        self._unique: dict[str, dict[str, K]] = {attribute: {} for attribute in unique}

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Record]:
        """The live rows in key order."""
        return (self._rows[key] for key in self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[K]:
        return list(self._keys)

    def __getitem__(self, key: K) -> Record:
        return self._rows[key]

    def get(self, key: K) -> Record | None:
        return self._rows.get(key)

    def max_key(self) -> K | None:
        return self._keys[-1] if self._keys else None

    def page(self, after: K | None, limit: int) -> list[Record]:
        """Up to `limit` rows with keys above `after` (from the first row when None)."""
        start = 0 if after is None else bisect.bisect_right(self._keys, after)
        return [self._rows[key] for key in self._keys[start : start + limit]]

    def find_unique(self, attribute: str, value: str) -> Record | None:
        """The row whose unique `attribute` spells `value`, if any."""
        key = self._unique[attribute].get(value)
        return None if key is None else self._rows[key]

    def is_unique(self, attribute: str) -> bool:
        return attribute in self._unique

    def search(self, attribute: str, value: str) -> list[Record]:
        """Every row whose `attribute` spells `value` (a scan), in key order."""
        return [row for row in self if text(fields(row).get(attribute)) == value]

    def insert(self, key: K, row: Record) -> None:
        if key in self._rows:
            raise KeyError(f"{self.name}: duplicate key {key!r}")
        self._rows[key] = row
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)  # the usual case: new keys come above the max
        else:
            bisect.insort(self._keys, key)
        self._index(key, row)

    def replace(self, key: K, row: Record) -> None:
        self._unindex(self._rows[key])
        self._rows[key] = row
        self._index(key, row)

    def delete(self, key: K) -> Record:
        row = self._rows.pop(key)
        del self._keys[bisect.bisect_left(self._keys, key)]
        self._unindex(row)
        return row

    def _index(self, key: K, row: Record) -> None:
        if self._unique:
            values = fields(row)
            for attribute, index in self._unique.items():
                if values.get(attribute) is not None:
                    index[text(values[attribute])] = key

    def _unindex(self, row: Record) -> None:
        if self._unique:
            values = fields(row)
            for attribute, index in self._unique.items():
                if values.get(attribute) is not None:
                    index.pop(text(values[attribute]), None)
