"""What the master and module writes do to a collection: upsert, patch, delete, workflow actions.

Plain functions over a `Collection`, run under the sandbox's data lock in a worker thread. Each
checks every row first, then applies the rows that passed (none, in all-or-nothing mode, if one
failed), and reports what it did in a `Change`. Soft-deleted records (`isDeleted: true`) and, with
`x-project-id`, records of other projects are invisible to every write (our assumption). A row
that matches a record but changes none of its values counts as updated and leaves it untouched
(no new updatedAt): so a retried upsert changes nothing (our assumption).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncer.sandbox.exto import write_schema as schema
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.fields import Record, sort_value
from syncer.sandbox.exto.records import iso_ms
from syncer.sandbox.exto.write_body import key_text

#: the workflow actions and the status each leaves a record in
WORKFLOW_STATUS = {"submit": "Submitted", "reject": "Rejected", "approve": "Approved"}


@dataclass(frozen=True)
class Stamp:
    """Who writes, when (epoch ms), and the `x-project-id` scope (None: company-wide)."""

    user: str
    at_ms: int
    project: str | None


@dataclass
class Change:
    """What one write did: ids of new records, counts, ledger keys and per-row errors."""

    inserted_ids: list[str] = field(default_factory=list)
    #: rows that matched a record (the answer's updatedCount), and updates that changed one
    updated: int = 0
    modified: int = 0
    deleted: int = 0
    #: the key of each row that changed something, in row order (for the ledger)
    keys: list[str] = field(default_factory=list)
    #: "row 3: serial_number must be a number", in row order
    errors: list[str] = field(default_factory=list)


#: makes a new record from its customFields (the ExtoDataset's `new_record`, bound to a stamp)
NewRecord = Callable[[Record], Record]


def upsert(
    coll: Collection,
    rows: list[Record],
    unique: tuple[str, ...],
    types: schema.FieldTypes,
    stamp: Stamp,
    new_record: NewRecord,
    all_or_nothing: bool,
    refused: frozenset[str] = frozenset(),
) -> Change:
    """Merge each row into the live record sharing a unique-field value (the first unique field
    of the row that matches decides), else insert it. Rows are applied in order, so a later row
    of the chunk updates a record an earlier row inserted. Rows naming a `refused` key fail."""
    change = Change()

    def problem(row: Record) -> str | None:
        return _missing_unique(row, unique) or refused_key(row, refused, unique)

    good = _check(rows, types, change, problem)
    if change.errors and all_or_nothing:
        return change
    updates: dict[int, Record] = {}
    inserts: list[Record] = []
    #: (field, sort value) -> index in inserts, for rows matching a record of this chunk
    new_keys: dict[tuple[str, Any], int] = {}
    for row in good:
        present = [(name, row[name]) for name in unique if row.get(name) is not None]
        key = key_text(present[0][1])
        position = next(
            (new_keys[k] for k in ((n, sort_value(v)) for n, v in present) if k in new_keys),
            None,
        )
        if position is not None:
            change.updated += 1
            if not _holds(inserts[position], row):
                inserts[position] = _merged(inserts[position], row, stamp)
                change.keys.append(key)
            continue
        seq = next((s for n, v in present for s in live(coll, n, v, stamp.project, updates)), None)
        if seq is not None:
            change.updated += 1
            _update(coll, updates, seq, row, stamp, change, key)
            continue
        for name, value in present:
            new_keys.setdefault((name, sort_value(value)), len(inserts))
        inserts.append(new_record(dict(row)))
        change.inserted_ids.append(inserts[-1]["_id"])
        change.keys.append(key)
    _apply(coll, updates, inserts)
    schema.widen(types, good)
    return change


def patch(
    coll: Collection,
    rows: list[Record],
    unique: tuple[str, ...],
    types: schema.FieldTypes,
    stamp: Stamp,
    all_or_nothing: bool,
    refused: frozenset[str] = frozenset(),
) -> Change:
    """Update records by `refId` (or, without one, by a unique field); rows matching no live
    record are skipped and not counted. A unique field may not take a value another live record
    holds. Rows naming a `refused` key fail."""
    change = Change()

    def problem(row: Record) -> str | None:
        if row.get("refId") is None and _missing_unique(row, unique):
            return "refId is required"
        if (why := refused_key(row, refused, unique)) is not None:
            return why
        own_name, own_value = _identity(row, unique)
        own = set(live(coll, own_name, own_value, stamp.project))
        for name in unique:
            value = row.get(name)
            if name == own_name or value is None:
                continue
            if set(live(coll, name, value, stamp.project)) - own:
                return f"{name} {key_text(value)} already exists"
        return None

    good = _check(rows, types, change, problem)
    if change.errors and all_or_nothing:
        return change
    updates: dict[int, Record] = {}
    for row in good:
        name, value = _identity(row, unique)
        seq = next(iter(live(coll, name, value, stamp.project, updates)), None)
        if seq is None:
            continue
        fields = {k: v for k, v in row.items() if k != "refId"}
        change.updated += 1
        _update(coll, updates, seq, fields, stamp, change, key_text(value))
    _apply(coll, updates, [])
    schema.widen(types, good)
    return change


def delete(
    coll: Collection, rows: list[Record], stamp: Stamp, hard: bool
) -> tuple[Change, list[str]]:
    """Delete the records named by `refId` or `recordNumber` (a master has no recordNumber
    field, so there it matches the refId: our assumption). Soft: `isDeleted: true` and a new
    updatedAt/updatedBy; hard: gone. Also returns the rows lacking both keys, for the 400."""
    change = Change()
    bad = [
        f"row {i}: refId or recordNumber is required"
        for i, row in enumerate(rows, 1)
        if not isinstance(row.get("refId"), str) and not isinstance(row.get("recordNumber"), str)
    ]
    if bad:
        return change, bad
    doomed: dict[int, Record] = {}
    for row in rows:
        if isinstance(row.get("refId"), str):
            value = row["refId"]
            seqs = live(coll, "refId", value, stamp.project, doomed)
        else:
            value = row["recordNumber"]
            seqs = live(coll, "recordNumber", value, stamp.project, doomed)
            seqs = seqs or live(coll, "refId", value, stamp.project, doomed)
        if seqs:
            doomed[seqs[0]] = coll.get(seqs[0]) | _touched(stamp) | {"isDeleted": True}
            change.keys.append(value)
    if hard:
        coll.delete(doomed)
    else:
        coll.replace(doomed)
    change.deleted = len(doomed)
    return change, []


def workflow(
    coll: Collection, ids: list[str], action: str, stamp: Stamp, new_id: Callable[[], str]
) -> tuple[list[dict[str, str]], list[str]]:
    """Take `action` on the records with these `_id`s: their `customFields.status` becomes
    Submitted, Rejected or Approved. Returns `[{workflowId, recordId}]`, or (applying nothing)
    the ids that match no live record."""
    found = {record_id: live(coll, "_id", record_id, stamp.project) for record_id in set(ids)}
    unknown = sorted(record_id for record_id, seqs in found.items() if not seqs)
    if unknown:
        return [], unknown
    status = WORKFLOW_STATUS[action.lower()]
    changes: dict[int, Record] = {}
    answer = []
    for record_id in ids:
        seq = found[record_id][0]
        changes[seq] = _merged(changes.get(seq) or coll.get(seq), {"status": status}, stamp)
        answer.append({"workflowId": new_id(), "recordId": record_id})
    coll.replace(changes)
    return answer, []


def _check(
    rows: list[Record],
    types: Mapping[str, str],
    change: Change,
    problem: Callable[[Record], str | None],
) -> list[Record]:
    """The rows without errors; each error of the others goes to `change.errors`."""
    good = []
    for index, row in enumerate(rows, 1):
        errors = [p for p in [problem(row)] if p is not None]
        errors += [
            e
            for name, value in row.items()
            if name != "refId" and (e := schema.value_error(name, value, types)) is not None
        ]
        change.errors += [f"row {index}: {error}" for error in errors]
        if not errors:
            good.append(row)
    return good


def refused_key(row: Record, refused: frozenset[str], unique: tuple[str, ...] = ()) -> str | None:
    """Why the `reject_keys` knob fails this row: it names a listed key (the value, as text, of
    its refId, recordNumber or a unique field); None when it does not."""
    if not refused:
        return None
    fields = ("refId", "recordNumber", *unique)
    named = sorted({key_text(row[f]) for f in fields if row.get(f) is not None} & refused)
    return f"{named[0]} is refused (reject_keys)" if named else None


def _missing_unique(row: Record, unique: tuple[str, ...]) -> str | None:
    if any(row.get(name) is not None for name in unique):
        return None
    if not unique:
        return "no unique field is declared for this master or module"
    if len(unique) == 1:
        return f"{unique[0]} is required (unique field)"
    return f"one of {', '.join(unique)} is required (unique fields)"


def _identity(row: Record, unique: tuple[str, ...]) -> tuple[str, Any]:
    """The field and value a patch row names its record by: refId, else its first unique field."""
    if row.get("refId") is not None:
        return "refId", row["refId"]
    name = next(name for name in unique if row.get(name) is not None)
    return name, row[name]


def live(
    coll: Collection,
    name: str,
    value: Any,
    project: str | None = None,
    pending: Mapping[int, Record] | None = None,
) -> list[int]:
    """Records whose `name` is `value`, not soft-deleted, and in `project` if one is given
    (`pending` holds a write's own changes, seen in place of the stored records)."""
    seqs = []
    for seq in coll.find(name, value):
        record = (pending or {}).get(seq) or coll.get(seq)
        if record.get("isDeleted") is True:
            continue
        if project is not None and record.get("projectID") != project:
            continue
        seqs.append(seq)
    return seqs


def _update(
    coll: Collection,
    updates: dict[int, Record],
    seq: int,
    custom: Mapping[str, Any],
    stamp: Stamp,
    change: Change,
    key: str,
) -> None:
    """Merge `custom` into record `seq` (as this write left it so far) unless it holds them."""
    record = updates.get(seq) or coll.get(seq)
    if _holds(record, custom):
        return
    if seq not in updates:
        change.modified += 1
    updates[seq] = _merged(record, custom, stamp)
    change.keys.append(key)


def _holds(record: Record, custom: Mapping[str, Any]) -> bool:
    """Whether the record's customFields already hold every value of `custom` (same JSON)."""
    mine = record["customFields"]
    return all(name in mine and _same(mine[name], value) for name, value in custom.items())


def _same(a: Any, b: Any) -> bool:
    """JSON equality: same types (1 is not 1.0 nor true), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b or (a != a and b != b))


def _merged(record: Record, custom: Mapping[str, Any], stamp: Stamp) -> Record:
    """`record` with `custom` merged into its customFields and a new updatedAt/updatedBy."""
    return record | {"customFields": record["customFields"] | dict(custom)} | _touched(stamp)


def _touched(stamp: Stamp) -> Record:
    return {"updatedBy": stamp.user, "updatedAt": iso_ms(stamp.at_ms)}


def _apply(coll: Collection, updates: dict[int, Record], inserts: list[Record]) -> None:
    if updates:
        coll.replace(updates)
    if inserts:
        coll.insert(inserts)
