"""The Exto dataset: deterministic records, users, groups and sub-tables, and what changes them.

Everything derives from `ExtoConfig.seed` and a counter (generation number, churn step, the
sequence of writes); no wall clock is read, so two processes with the same config serve
byte-identical data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncer.sandbox.common.generation import GenerationResult, shares
from syncer.sandbox.exto import directory, hostile
from syncer.sandbox.exto.bad_bytes import BadBytesEntry
from syncer.sandbox.exto.collection import Collection, Padding, Selection, collector_paused
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.fields import Record
from syncer.sandbox.exto.poison_corpus import CorpusEntry
from syncer.sandbox.exto.records import (
    DAY_MS,
    IdFactory,
    RecordFactory,
    inspection_fields,
    iso_ms,
    location_fields,
)
from syncer.sandbox.exto.seeding import (
    base_records,
    flipped,
    insert_masters,
    tie_updated_at,
    with_fields,
)

#: generation g happens at this instant + g days
GENERATION_EPOCH_MS = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000)
#: churn inserts are backdated from here, one minute apart, so they sort before every base record
CHURN_EPOCH_S = int(datetime(2023, 12, 31, tzinfo=UTC).timestamp())


#: what one `generation()` did to masters and modules, as `_id`s
Generation = GenerationResult[tuple[str, ...]]


@dataclass
class SubTable:
    """The rows of one sub-table on one module record, in the order they were appended."""

    rows: list[Record] = field(default_factory=list)
    #: the number in the next appended row's `recordNumber` (`<tableId>-<n>`)
    next_number: int = 1


@dataclass
class ExtoDataset:
    """All live Exto data of one sandbox and the deterministic ways it changes."""

    seed: int
    collections: dict[tuple[str, str], Collection]
    factories: dict[tuple[str, str], RecordFactory]
    users: list[Record]
    projects: list[Record]
    tenant_groups: list[str]
    generation_number: int = 0
    #: how far the sandbox's clock moves per generation (a day unless a test wants the changes
    #: of a run to fall within minutes, as a real vendor's would)
    generation_step_ms: int = DAY_MS
    #: when generation 0 happens (2025-07-01 unless a test puts the sandbox's clock elsewhere,
    #: e.g. at the real time, so changes it makes fall after a client's own clock)
    generation_epoch_ms: int = GENERATION_EPOCH_MS
    churn_step: int = 0
    #: calls of `restamp` so far (each draws its records with its own RNG)
    restamps: int = 0
    #: the ObjectId factory of every record, so ids made by writes never repeat generated ones
    ids: IdFactory = field(default_factory=IdFactory)
    #: (tableId, MODULE NAME, parent record _id) -> its rows; only writes create them
    subtables: dict[tuple[str, str, str], SubTable] = field(default_factory=dict)
    #: the manifest of the poison corpus (`poison_corpus` knob): one entry per kind, in position
    #: order; empty when the knob is off
    poison_corpus: list[CorpusEntry] = field(default_factory=list)
    #: the manifest of the master records holding bytes that are not UTF-8 (`bad_bytes` knob),
    #: in position order; empty when the knob is 0
    bad_bytes: list[BadBytesEntry] = field(default_factory=list)
    #: the hostile customFields names of the master records (`hostile_names` knob); () when off
    hostile_names: tuple[str, ...] = ()
    #: sequence numbers of the master records `flip_types` has flipped
    type_flipped: set[int] = field(default_factory=set)
    #: the RNG of every id and slug a write makes, so a sequence of writes is reproducible
    write_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.write_rng = random.Random(f"{self.seed}:writes")

    @classmethod
    def build(cls, config: ExtoConfig) -> ExtoDataset:
        """Generate the dataset `config` describes."""
        with collector_paused():
            return cls._build(config)

    @classmethod
    def _build(cls, config: ExtoConfig) -> ExtoDataset:
        projects = directory.make_projects(config.seed, config.projects)
        users = directory.make_users(config.seed, config.users, projects)
        people = tuple(u["user"]["email"] for u in users) or ("sandbox@example.com",)
        record_projects = tuple(p["projectID"] for p in projects[:3])
        ids = IdFactory()
        master = RecordFactory(
            location_fields,
            ("capacity", "active", "tags", "budget", "manager", "notes"),
            ids,
            people,
            record_projects,
        )
        module = RecordFactory(
            inspection_fields,
            ("status", "score", "passed", "findings", "remarks", "cost"),
            ids,
            people,
            record_projects,
            context=config.master_records,
        )
        master_key = ("master", config.master_name)
        module_key = ("module", config.module_name)
        masters = base_records(master, config.seed, "master", config.master_records)
        hostile_names = hostile.names(config.seed, config.hostile_names)
        if hostile_names:
            masters = hostile.with_names(masters, hostile_names)
        if config.record_padding:
            masters = (with_fields(r, padding=Padding.PLACEHOLDER) for r in masters)
        collections = {master_key: Collection(*master_key), module_key: Collection(*module_key)}
        if config.record_padding:
            collections[master_key].padding = Padding(config.seed, config.record_padding)
        corpus, undecodable = insert_masters(collections[master_key], masters, config)
        collections[module_key].insert(
            base_records(module, config.seed, "module", config.module_records)
        )
        if config.tied_updated_at:
            tie_updated_at(collections[master_key], config.tied_updated_at)
        for collection in collections.values():
            # the orders clients use (insertion, `sort=_id`), built before the first request
            collection.warm(("", "_id"))
        return cls(
            seed=config.seed,
            collections=collections,
            factories={master_key: master, module_key: module},
            users=users,
            projects=projects,
            tenant_groups=list(directory.TENANT_GROUPS),
            ids=ids,
            poison_corpus=corpus,
            bad_bytes=undecodable,
            hostile_names=hostile_names,
        )

    def now_ms(self) -> int:
        """The current generation's time (epoch ms): 2025-07-01 + g steps (a day each)."""
        return self.generation_epoch_ms + self.generation_number * self.generation_step_ms

    def new_id(self, at_ms: int) -> str:
        """A fresh ObjectId carrying the second of `at_ms`, never seen before in this dataset."""
        return self.ids.new(self.write_rng, at_ms // 1000)

    def new_record(self, custom: Record, at_ms: int, user: str, project: str | None) -> Record:
        """A record created by a write at `at_ms`, shaped like the generated ones."""
        object_id = self.new_id(at_ms)
        slug = directory.short_id(self.write_rng)
        stamp = iso_ms(at_ms)
        return {
            "_id": object_id,
            "id": object_id,
            "customFields": custom,
            "parentID": None,
            "slug": slug,
            "refId": slug,
            "tenantID": directory.TENANT_ID,
            "projectID": project,
            "createdBy": user,
            "createdAt": stamp,
            "updatedBy": user,
            "updatedAt": stamp,
            "isDeleted": False,
        }

    def generation(self, change_pct: float, delete_pct: float, insert_pct: float) -> Generation:
        """Advance one generation: change, hard-delete and insert a share of each collection.

        Counts are percentages of each collection's live count, rounded half up; the records are
        chosen by an RNG seeded with (seed, generation, collection). Poison records are left alone.
        """
        with collector_paused():
            return self._generation(change_pct, delete_pct, insert_pct)

    def _generation(self, change_pct: float, delete_pct: float, insert_pct: float) -> Generation:
        self.generation_number += 1
        g = self.generation_number
        base_ms = self.generation_epoch_ms + g * self.generation_step_ms
        changed: list[str] = []
        deleted: list[str] = []
        inserted: list[str] = []
        for key, coll in self.collections.items():
            factory = self.factories[key]
            rng = random.Random(f"{self.seed}:generation:{g}:{key[0]}:{key[1]}")
            live = len(coll)
            n_change, n_delete, n_insert = shares(live, change_pct, delete_pct, insert_pct)
            eligible = [seq for seq in coll.seqs() if seq not in coll.poison]
            picks = rng.sample(eligible, min(len(eligible), n_change + n_delete))
            changes = {
                seq: factory.changed(rng, coll.get(seq), base_ms + offset)
                for offset, seq in enumerate(picks[:n_change])
            }
            coll.replace(changes)
            changed.extend(record["_id"] for record in changes.values())
            doomed = picks[n_change:]
            deleted.extend(coll.get(seq)["_id"] for seq in doomed)
            coll.delete(doomed)
            start = base_ms + len(changes)
            new = [factory.new(rng, start + i, start + i) for i in range(n_insert)]
            coll.insert(new)
            inserted.extend(record["_id"] for record in new)
        return Generation(tuple(changed), tuple(deleted), tuple(inserted), g)

    def flip_types(self, count: int) -> list[str]:
        """Change the JSON type of customFields values on `count` good master records (FLIPS:
        `latitude` number -> its string form, `opened_on` date string -> the number YYYYMMDD,
        `country` string -> `true`); return their `_id`s, in the order flipped.

        Advances the clock by one generation (as `generation` does) and stamps each flipped
        record's `updatedAt` with that generation's time + i ms. The records are drawn by an RNG
        seeded with (seed, generation) among master records neither poison nor flipped before,
        holding at least one value of the type its flip expects, so a second call flips further
        records (never flips back); fewer than `count` when too few are left.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count must be an integer >= 0")
        with collector_paused():
            return self._flip_types(count)

    def _flip_types(self, count: int) -> list[str]:
        self.generation_number += 1
        g = self.generation_number
        base_ms = self.generation_epoch_ms + g * self.generation_step_ms
        coll = next(c for (kind, _), c in self.collections.items() if kind == "master")
        rng = random.Random(f"{self.seed}:flip-types:{g}")
        eligible = [
            seq for seq in coll.seqs() if seq not in coll.poison and seq not in self.type_flipped
        ]
        rng.shuffle(eligible)
        changes: dict[int, Record] = {}
        for seq in eligible:
            if len(changes) >= count:
                break
            record = coll.get(seq)
            custom = flipped(record.get("customFields"))
            if custom is not None:
                stamp = iso_ms(base_ms + len(changes))
                changes[seq] = {**record, "customFields": custom, "updatedAt": stamp}
        coll.replace(changes)
        self.type_flipped.update(changes)
        return [record["_id"] for record in changes.values()]

    def restamp(self, count: int, at_ms: int, *, change: bool = False) -> list[str]:
        """Stamp `count` good master records' `updatedAt` with `at_ms` (a time in the future, or
        one long past) and return their `_id`s; with `change`, their `customFields.notes` changes
        too (a change stamped in the past: a late write an incremental reader cannot see).

        The records are drawn by an RNG seeded with (seed, restamp call), poison ones left alone.
        The clock does not move: a vendor's bad timestamps are not a generation.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count must be an integer >= 0")
        self.restamps += 1
        coll = next(c for (kind, _), c in self.collections.items() if kind == "master")
        rng = random.Random(f"{self.seed}:restamp:{self.restamps}")
        eligible = [seq for seq in coll.seqs() if seq not in coll.poison]
        picks = rng.sample(eligible, min(count, len(eligible)))
        stamp = iso_ms(at_ms)
        changes: dict[int, Record] = {}
        for seq in picks:
            record = coll.get(seq)
            new = {**record, "updatedAt": stamp}
            if change:
                custom = record.get("customFields")
                if isinstance(custom, dict):
                    new["customFields"] = {**custom, "notes": f"late write {self.restamps}"}
            changes[seq] = new
        with collector_paused():
            coll.replace(changes)
        return [record["_id"] for record in changes.values()]

    def churn(
        self, coll: Collection, selection: Selection, offset: int, inserts: int, deletes: int
    ) -> None:
        """Mutate `coll` after a page served at `offset` of `selection`, like a live collection.

        Deletes pick records before the page (so the next offset skips one); inserts are backdated
        (`_id` and createdAt before every other record, updatedAt at the current generation time)
        so they sort first by `_id` or createdAt (and the next offset repeats one).
        """
        self.churn_step += 1
        step = self.churn_step
        rng = random.Random(f"{self.seed}:churn:{coll.kind}:{coll.name}:{step}")
        if deletes and offset:
            positions = rng.sample(range(offset), min(offset, deletes + len(coll.poison)))
            seqs = [selection.seq_at(p) for p in positions]
            coll.delete([seq for seq in seqs if seq not in coll.poison][:deletes])
        if inserts:
            factory = self.factories[(coll.kind, coll.name)]
            now_ms = self.now_ms()
            new = []
            for i in range(inserts):
                created_s = CHURN_EPOCH_S - 60 * (step * inserts + i)
                new.append(factory.new(rng, created_s * 1000, now_ms + step))
            coll.insert(new)
