"""The Actito dataset: one profile table and one custom table, and the ways their data moves on.

Everything derives from `ActitoConfig.seed` and counters (generation number, churn step); no wall
clock is read, so two sandboxes with the same config serve identical pages. Keys only grow:
new profileIds and business keys are above every key ever issued, like an auto-increment.
"""

from __future__ import annotations

import random

from syncer.sandbox.actito import records
from syncer.sandbox.actito.config import ActitoConfig
from syncer.sandbox.actito.records import (
    BASE_END_S,
    BASE_START_S,
    DAY_S,
    GENERATION_EPOCH_S,
)
from syncer.sandbox.actito.tables import Table
from syncer.sandbox.common.generation import GenerationResult, shares

#: attributes the profile table declares unique (and the v4 lookup accepts)
PROFILE_UNIQUE = ("emailAddress", "customerId")


#: what one `generation()` did: profileIds (int) first, then business keys (str)
Generation = GenerationResult[tuple[int | str, ...]]


class ActitoDataset:
    """All live Actito data of one sandbox and the deterministic ways it changes."""

    def __init__(self, seed: int, profiles: Table[int], custom: Table[str]) -> None:
        self.seed = seed
        self.profiles = profiles
        self.custom = custom
        #: the next profileId and order number to issue (never reused after a delete)
        self.next_profile_id = (profiles.max_key() or 0) + 1
        self.next_order = len(custom) + 1
        self.generation_number = 0
        self.churn_step = 0

    @classmethod
    def build(cls, config: ActitoConfig) -> ActitoDataset:
        """Generate the dataset `config` describes."""
        profiles: Table[int] = Table("profiles", config.profile_table, int, PROFILE_UNIQUE)
        rng = random.Random(f"{config.seed}:profiles:{config.profile_table}")
        profile_id = 0
        for created, updated in _moments(rng, config.profiles):
            # occasional gaps, as left by profiles deleted long ago
            profile_id += 1 + (rng.randrange(1, 4) if rng.random() < 0.1 else 0)
            profiles.insert(profile_id, records.new_profile(rng, profile_id, created, updated))
        custom: Table[str] = Table("custom", config.custom_table, str, ("orderId",))
        rng = random.Random(f"{config.seed}:custom:{config.custom_table}")
        customers = profiles.keys() or [0]
        for number, (created, updated) in enumerate(_moments(rng, config.custom_records), 1):
            customer = records.customer_id(rng.choice(customers))
            order = records.new_order(rng, number, customer, created, updated)
            custom.insert(order["businessKey"], order)
        return cls(config.seed, profiles, custom)

    def generation(
        self, change_pct: float, delete_pct: float, insert_pct: float, *, cascade: bool = False
    ) -> Generation:
        """Advance one generation: change, delete and insert a share of each table.

        Counts are percentages of each table's live count, rounded half up; changed and deleted
        rows are disjoint and chosen by an RNG seeded with (seed, generation, table). Changed and
        inserted rows get `updateMoment` = 2025-07-01 + g days + i seconds (i counts them).
        """
        self.generation_number += 1
        g = self.generation_number
        base = GENERATION_EPOCH_S + g * DAY_S
        changed: list[int | str] = []
        deleted: list[int | str] = []
        inserted: list[int | str] = []
        rng = random.Random(f"{self.seed}:generation:{g}:profiles:{self.profiles.name}")
        n_change, n_delete, n_insert = shares(
            len(self.profiles), change_pct, delete_pct, insert_pct
        )
        picks = rng.sample(self.profiles.keys(), min(len(self.profiles), n_change + n_delete))
        for offset, pid in enumerate(picks[:n_change]):
            row = self.profiles[pid]
            self.profiles.replace(pid, records.changed_profile(rng, row, base + offset))
            changed.append(pid)
        for pid in picks[n_change:]:
            deleted.extend(self.delete_profile(pid, cascade=cascade))
        inserted.extend(self._insert_profiles(rng, n_insert, base + n_change))

        rng = random.Random(f"{self.seed}:generation:{g}:custom:{self.custom.name}")
        n_change, n_delete, n_insert = shares(len(self.custom), change_pct, delete_pct, insert_pct)
        keys = rng.sample(self.custom.keys(), min(len(self.custom), n_change + n_delete))
        for offset, key in enumerate(keys[:n_change]):
            order = self.custom[key]
            self.custom.replace(key, records.changed_order(rng, order, base + offset))
            changed.append(key)
        for key in keys[n_change:]:
            self.custom.delete(key)
            deleted.append(key)
        inserted.extend(self._insert_orders(rng, n_insert, base + n_change))
        return Generation(tuple(changed), tuple(deleted), tuple(inserted), g)

    def churn(
        self, table: Table[int] | Table[str], inserts: int, deletes: int, *, cascade: bool
    ) -> None:
        """Change `table` between two page requests, like a live table under a scan.

        Deletes pick live rows anywhere (rows past the cursor then vanish from the scan); inserts
        get keys above the max (so the running scan still reaches them), with `creationMoment` =
        `updateMoment` = the current generation time + the churn step in seconds.
        """
        self.churn_step += 1
        step = self.churn_step
        rng = random.Random(f"{self.seed}:churn:{table.kind}:{table.name}:{step}")
        now = GENERATION_EPOCH_S + self.generation_number * DAY_S + step
        if table is self.profiles:
            for pid in rng.sample(self.profiles.keys(), min(len(self.profiles), deletes)):
                self.delete_profile(pid, cascade=cascade)
            self._insert_profiles(rng, inserts, now, spread=False)
        else:
            for key in rng.sample(self.custom.keys(), min(len(self.custom), deletes)):
                self.custom.delete(key)
            self._insert_orders(rng, inserts, now, spread=False)

    def delete_profile(self, profile_id: int, *, cascade: bool) -> list[int | str]:
        """Delete a profile, and with `cascade` the orders linked to its customerId; their keys."""
        row = self.profiles.delete(profile_id)
        gone: list[int | str] = [profile_id]
        if cascade:
            customer = records.fields(row)["customerId"]
            linked = [order["businessKey"] for order in self.custom.search("customerId", customer)]
            for key in linked:
                self.custom.delete(key)
            gone.extend(linked)
        return gone

    def take_profile_id(self) -> int:
        """A new profileId for a created profile, above every one issued so far."""
        profile_id = self.next_profile_id
        self.next_profile_id += 1
        return profile_id

    def now(self, elapsed_s: float) -> str:
        """The data clock: generation time (2025-07-01 + g days) + `elapsed_s`, as a moment."""
        seconds = GENERATION_EPOCH_S + self.generation_number * DAY_S + int(max(elapsed_s, 0))
        return records.moment(seconds)

    def _insert_profiles(
        self, rng: random.Random, count: int, start: int, spread: bool = True
    ) -> list[int | str]:
        new: list[int | str] = []
        for i in range(count):
            pid = self.next_profile_id
            self.next_profile_id += 1
            at = start + i if spread else start
            self.profiles.insert(pid, records.new_profile(rng, pid, at, at))
            new.append(pid)
        return new

    def _insert_orders(
        self, rng: random.Random, count: int, start: int, spread: bool = True
    ) -> list[int | str]:
        customers = self.profiles.keys() or [0]
        new: list[int | str] = []
        for i in range(count):
            at = start + i if spread else start
            customer = records.customer_id(rng.choice(customers))
            while records.business_key(self.next_order) in self.custom:
                self.next_order += 1  # a key a client wrote through the API
            order = records.new_order(rng, self.next_order, customer, at, at)
            self.next_order += 1
            self.custom.insert(order["businessKey"], order)
            new.append(order["businessKey"])
        return new


def _moments(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """(creationMoment, updateMoment) of `count` rows created in order over 2024-01 .. 2025-06."""
    step = (BASE_END_S - BASE_START_S) // max(count, 1)
    moments = []
    for i in range(count):
        created = BASE_START_S + i * step + int(rng.random() * step)
        roll = rng.random()
        updated = created if roll < 0.4 else min(BASE_END_S, created + int(roll * 60 * DAY_S))
        moments.append((created, updated))
    return moments
