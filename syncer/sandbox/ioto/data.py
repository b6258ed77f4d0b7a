"""The Ioto dataset: one table per model, built from the seed, and the ways it moves on.

Everything derives from `IotoConfig.seed` and counters (generation number, churn step); no wall
clock is read, so two processes with the same config serve byte-identical pages.
"""

from __future__ import annotations

import random
from collections.abc import Container
from datetime import UTC, datetime

from syncer.sandbox.common.generation import GenerationResult, shares
from syncer.sandbox.ioto.config import IotoConfig
from syncer.sandbox.ioto.items import (
    BASE_END_MS,
    BASE_START_MS,
    DAY_MS,
    ItemFactory,
    claim_id,
    store_key,
    ulid,
)
from syncer.sandbox.ioto.models import DATA_MODELS, MODELS, Item, Key
from syncer.sandbox.ioto.table import Table

#: generation g happens at this instant + g days
GENERATION_EPOCH_MS = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000)


#: what one `generation()` did, as natural keys per model (Device: id; Store:
#: "deviceId/key"; Log: id)
Generation = GenerationResult[dict[str, tuple[str, ...]]]


class IotoDataset:
    """All live items of one sandbox and the deterministic ways they change."""

    def __init__(self, seed: int, factory: ItemFactory) -> None:
        self.seed = seed
        self.factory = factory
        self.tables = {name: Table(model, seed) for name, model in MODELS.items()}
        self.generation_number = 0
        self.churn_step = 0

    @classmethod
    def build(cls, config: IotoConfig) -> IotoDataset:
        """Generate the dataset `config` describes."""
        data = cls(config.seed, ItemFactory(config.seed, config.account_id))
        factory = data.factory
        rng = random.Random(f"{config.seed}:ioto:Device")
        ids: set[str] = set()
        devices = []
        for created in _spread(rng, config.devices):
            device_id = claim_id(rng, ids)
            ids.add(device_id)
            devices.append(factory.device(rng, device_id, created, _touched(rng, created)))
        data.tables["Device"].load(devices)
        device_ids = sorted(ids)

        rng = random.Random(f"{config.seed}:ioto:Store")
        keys: set[str] = set()
        entries = []
        for _ in range(config.store_items):
            device_id = rng.choice(device_ids)
            key = store_key(rng, _Prefixed(keys, device_id))
            keys.add(f"{device_id}/{key}")
            updated = rng.randrange(BASE_START_MS, BASE_END_MS)
            entries.append(factory.store(rng, device_id, key, updated))
        data.tables["Store"].load(entries)

        rng = random.Random(f"{config.seed}:ioto:Log")
        logs = []
        for created in _spread(rng, config.logs):
            logs.append(factory.log(rng, rng.choice(device_ids), ulid(created, rng), created))
        data.tables["Log"].load(logs)
        return data

    def records(self, model: str) -> list[Item]:
        return [item for _, item in self.tables[model].live()]

    def generation(self, change_pct: float, delete_pct: float, insert_pct: float) -> Generation:
        """Advance one generation: change, delete and insert a share of each data model.

        Counts are percentages of each model's live count, rounded half up; the items are chosen
        by an RNG seeded with (seed, generation, model). Changed items get `updated` (devices also
        `accessed`) = 2025-07-01T00:00:00.000Z + g days; inserted ones are created then.
        """
        self.generation_number += 1
        g = self.generation_number
        at = GENERATION_EPOCH_MS + g * DAY_MS
        changed: dict[str, tuple[str, ...]] = {}
        deleted: dict[str, tuple[str, ...]] = {}
        inserted: dict[str, tuple[str, ...]] = {}
        for name in DATA_MODELS:
            table = self.tables[name]
            rng = random.Random(f"{self.seed}:ioto:generation:{g}:{name}")
            live = len(table)
            n_change, n_delete, n_insert = shares(live, change_pct, delete_pct, insert_pct)
            picks = rng.sample(table.keys, min(live, n_change + n_delete))
            changed[name] = tuple(self._change(table, rng, key, at) for key in picks[:n_change])
            deleted[name] = tuple(
                table.model.natural_key(table.delete(key)) for key in picks[n_change:]
            )
            inserted[name] = tuple(self._insert(table, rng, at) for _ in range(n_insert))
        return Generation(changed, deleted, inserted, g)

    def churn(self, model: str, inserts: int, deletes: int) -> None:
        """Change `model` between two page requests, like writers working during a scan.

        Deletes pick live items anywhere; inserts get fresh keys anywhere in the key order, so a
        scan in progress sees those that land ahead of its cursor and misses the others.
        """
        if model not in DATA_MODELS:
            return
        self.churn_step += 1
        table = self.tables[model]
        rng = random.Random(f"{self.seed}:ioto:churn:{model}:{self.churn_step}")
        for key in rng.sample(table.keys, min(len(table), deletes)):
            table.delete(key)
        at = GENERATION_EPOCH_MS + self.generation_number * DAY_MS + self.churn_step
        for _ in range(inserts):
            self._insert(table, rng, at)

    def _change(self, table: Table, rng: random.Random, key: Key, at: int) -> str:
        item = table.items[key]
        factory = self.factory
        if table.model.name == "Device":
            new = factory.changed_device(rng, item, at)
        elif table.model.name == "Store":
            new = factory.changed_store(rng, item, at)
        else:
            new = factory.changed_log(rng, item, at)
        table.put(new)
        return table.model.natural_key(new)

    def _insert(self, table: Table, rng: random.Random, at: int) -> str:
        """Insert one new item into `table`, created at `at`; return its natural key."""
        factory = self.factory
        if table.model.name == "Device":
            taken = {key[1].removeprefix("d#") for key in table.known}
            item = factory.device(rng, claim_id(rng, taken), at, at)
        else:
            device_id = self._some_device(rng)
            if table.model.name == "Store":
                key = store_key(rng, _Prefixed(table.by_natural, device_id))
                item = factory.store(rng, device_id, key, at)
            else:
                item = factory.log(rng, device_id, ulid(at, rng), at)
        table.put(item)
        return table.model.natural_key(item)

    def _some_device(self, rng: random.Random) -> str:
        """A live device's id; if none is left, any device that ever existed."""
        devices = self.tables["Device"]
        keys = devices.keys or sorted(devices.known)
        return rng.choice(keys)[1].removeprefix("d#")


def _spread(rng: random.Random, count: int) -> list[int]:
    """`count` creation instants in ascending order, spread over 2024-01-01 .. 2025-06-30."""
    step = (BASE_END_MS - BASE_START_MS) // max(count, 1)
    return [BASE_START_MS + i * step + rng.randrange(max(step, 1)) for i in range(count)]


def _touched(rng: random.Random, created: int) -> int:
    """An `updated` instant: `created` for 40% of items, else up to 60 days later."""
    roll = rng.random()
    return created if roll < 0.4 else min(BASE_END_MS, created + int(roll * 60 * DAY_MS))


class _Prefixed:
    """`key in view` means `f"{device_id}/{key}" in naturals`: store keys taken on one device."""

    def __init__(self, naturals: Container[str], device_id: str) -> None:
        self.naturals = naturals
        self.device_id = device_id

    def __contains__(self, key: object) -> bool:
        return f"{self.device_id}/{key}" in self.naturals
