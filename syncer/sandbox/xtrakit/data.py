"""The XtraKit dataset: four live tables, built from the seed, and the ways they change.

Everything derives from `XtraKitConfig.seed` and a counter (generation number, churn step); no wall
clock is read, so two processes with the same config serve identical data. Ids are integers from 1
that, like a Laravel auto-increment key, only ever grow: an insert takes the next id, a deleted id
is never reused, and so a table's insertion order is its id order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncer.sandbox.common.generation import GenerationResult, shares
from syncer.sandbox.xtrakit.config import XtraKitConfig
from syncer.sandbox.xtrakit.records import BASE_END, BASE_START, DAY, Account, Record

COLLECTIONS = ("customers", "items", "categories", "sales")
#: generation g happens at this instant + g days
GENERATION_EPOCH = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())

Factory = Callable[[random.Random, int, int, int], Record]


#: what one `generation()` did, as ids per collection (every collection is a key)
Generation = GenerationResult[dict[str, tuple[int, ...]]]


class Table:
    """One live collection: records by id, in id order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[int, Record] = {}
        #: the id the next insert gets (auto-increment: never reused)
        self.next_id = 1
        self._ordered: list[Record] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def ordered(self) -> list[Record]:
        """The live records by id ascending (cached until the table changes; do not mutate)."""
        if self._ordered is None:
            self._ordered = list(self.rows.values())
        return self._ordered

    def take_ids(self, count: int) -> range:
        """Reserve the next `count` ids."""
        ids = range(self.next_id, self.next_id + count)
        self.next_id += count
        return ids

    def insert(self, records: Iterable[Record]) -> None:
        """Add records whose ids came from `take_ids` (so above every id so far)."""
        for record in records:
            self.rows[record["id"]] = record
        self._ordered = None

    def replace(self, records: Iterable[Record]) -> None:
        """Swap in new versions of live records (an id keeps its place)."""
        for record in records:
            self.rows[record["id"]] = record
        self._ordered = None

    def delete(self, ids: Iterable[int]) -> None:
        """Remove records for good ("removal is permanent")."""
        for id_ in ids:
            self.rows.pop(id_, None)
        self._ordered = None


@dataclass
class XtraKitDataset:
    """All live XtraKit data of one sandbox and the deterministic ways it changes."""

    seed: int
    account: Account
    tables: dict[str, Table]
    generation_number: int = 0
    churn_step: int = 0
    factories: dict[str, Factory] = field(default_factory=dict)

    @classmethod
    def build(cls, config: XtraKitConfig) -> XtraKitDataset:
        """Generate the dataset `config` describes."""
        account = Account.for_seed(config.seed, config.customers, config.categories)
        data = cls(
            seed=config.seed,
            account=account,
            tables={name: Table(name) for name in COLLECTIONS},
            factories={
                "customers": account.customer,
                "items": account.item,
                "categories": account.category,
                "sales": account.sale,
            },
        )
        for name in COLLECTIONS:
            data.tables[name].insert(data._base_records(name, getattr(config, name)))
        return data

    def _base_records(self, name: str, count: int) -> list[Record]:
        """`count` records created in id order over 2024-01-01 .. 2025-06-30."""
        rng = random.Random(f"{self.seed}:xtrakit:{name}")
        make = self.factories[name]
        step = (BASE_END - BASE_START) // max(count, 1)
        records = []
        for id_ in self.tables[name].take_ids(count):
            created = BASE_START + (id_ - 1) * step + int(rng.random() * step)
            roll = rng.random()
            updated = created if roll < 0.4 else min(BASE_END, created + int(roll * 60 * DAY))
            records.append(make(rng, id_, created, updated))
        return records

    def generation(self, change_pct: float, delete_pct: float, insert_pct: float) -> Generation:
        """Advance one generation: change, delete and insert a share of each collection.

        Counts are percentages of each collection's live count, rounded half up; the records are
        chosen by an RNG seeded with (seed, generation, collection). Changed and inserted records
        get `updated_at` = 2025-07-01 00:00:00 + g days (inserted ones that `created_at` too).
        """
        self.generation_number += 1
        g = self.generation_number
        at = GENERATION_EPOCH + g * DAY
        changed: dict[str, tuple[int, ...]] = {}
        deleted: dict[str, tuple[int, ...]] = {}
        inserted: dict[str, tuple[int, ...]] = {}
        for name, table in self.tables.items():
            rng = random.Random(f"{self.seed}:xtrakit:generation:{g}:{name}")
            live = len(table)
            n_change, n_delete, n_insert = shares(live, change_pct, delete_pct, insert_pct)
            picks = rng.sample(list(table.rows), min(live, n_change + n_delete))
            new_versions = [
                self.account.changed(name, rng, table.rows[id_], at) for id_ in picks[:n_change]
            ]
            table.replace(new_versions)
            table.delete(picks[n_change:])
            make = self.factories[name]
            table.insert([make(rng, id_, at, at) for id_ in table.take_ids(n_insert)])
            changed[name] = tuple(sorted(picks[:n_change]))
            deleted[name] = tuple(sorted(picks[n_change:]))
            inserted[name] = tuple(range(table.next_id - n_insert, table.next_id))
        return Generation(changed, deleted, inserted, g)

    def churn(
        self, table: Table, selection: list[Record], offset: int, inserts: int, deletes: int
    ) -> None:
        """Mutate `table` after a page served at `offset` of `selection`, like a live table.

        Deletes pick records before the page (so the next offset skips as many); inserts take
        new ids, so they land at the end (and `total`/`last_page` grow while a client pages).
        """
        self.churn_step += 1
        step = self.churn_step
        rng = random.Random(f"{self.seed}:xtrakit:churn:{table.name}:{step}")
        if deletes and offset:
            before = selection[: min(offset, len(selection))]
            table.delete(r["id"] for r in rng.sample(before, min(len(before), deletes)))
        if inserts:
            at = GENERATION_EPOCH + self.generation_number * DAY + step
            make = self.factories[table.name]
            table.insert([make(rng, id_, at, at) for id_ in table.take_ids(inserts)])
