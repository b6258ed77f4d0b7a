"""The Exto write routes (vendors.md §2.5, §6.1; docs/sandbox.md "Writes").

Master and module records are written here; sub-tables and workflow actions in
`write_flow`, users in `write_users`. Every write route lives under `/data`, so the
Exto middleware's auth, rate limit and latency apply as on reads; `write_outcome` adds the
ledger and the write faults. Each write holds the data lock, so reads see it whole and at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from syncer.sandbox.exto import write_flow, write_users
from syncer.sandbox.exto import write_records as records
from syncer.sandbox.exto import write_schema as schema
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.fields import Record
from syncer.sandbox.exto.ledger import AppliedWrite
from syncer.sandbox.exto.state import ExtoSandbox
from syncer.sandbox.exto.wire import API, ApiError, token_user
from syncer.sandbox.exto.write_body import (
    acting_user,
    bad_request,
    project_scope,
    rows_body,
    target,
)
from syncer.sandbox.exto.write_outcome import WriteOutcome, applied, write_route

NO_DELETE_RIGHT = "User doesn't have permission to delete the record"
DELETED = "Records deleted successfully"


async def master_upsert(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    coll = target(sb, "master", request.match_info["masterName"])
    return await _upsert(request, sb, coll, token_user(request))


async def module_upsert(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    coll = target(sb, "module", request.match_info["moduleName"])
    return await _upsert(request, sb, coll, acting_user(request, sb))


async def master_patch(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Answers `{updatedCount}` only (the masters page of Exto's docs)."""
    coll = target(sb, "master", request.match_info["masterName"])
    change, entry = await _patch(request, sb, coll, token_user(request), one_object=False)
    return _answer(change, entry, {"updatedCount": change.updated})


async def module_patch(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Takes one object or an array, and answers the upsert shape (the module-records page)."""
    coll = target(sb, "module", request.match_info["moduleName"])
    change, entry = await _patch(request, sb, coll, acting_user(request, sb), one_object=True)
    body = {"insertedIds": [], "insertedCount": 0, "updatedCount": change.updated}
    return _answer(change, entry, body)


async def master_delete(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """A user without the delete right gets 200 `{"success": false}` and deletes nothing."""
    coll = target(sb, "master", request.match_info["masterName"])
    user = acting_user(request, sb)
    rows = await rows_body(request)
    if user in sb.config.users_without_delete:
        return WriteOutcome({"success": False, "message": NO_DELETE_RIGHT})
    _, entry = await _delete(request, sb, coll, user, rows)
    return WriteOutcome({"success": True, "message": DELETED}, applied=entry)


async def module_delete(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """No delete-right check (Exto's docs: none beyond tenant membership); 404 when no record
    matches."""
    coll = target(sb, "module", request.match_info["moduleName"])
    user = acting_user(request, sb)
    change, entry = await _delete(request, sb, coll, user, await rows_body(request))
    if not change.deleted:
        raise ApiError(404, "Not Found", "No matching record.")
    return WriteOutcome({"success": True, "message": DELETED}, applied=entry)


async def _upsert(
    request: web.Request, sb: ExtoSandbox, coll: Collection, user: str
) -> WriteOutcome:
    rows = _without_id(await rows_body(request))
    unique = sb.config.unique_fields.get(coll.name, ())
    async with sb.data_lock:
        at, ms = sb.write_time()
        stamp = records.Stamp(user, ms, project_scope(request))
        types = await _field_types(sb, coll)

        def new_record(custom: Record) -> Record:
            return sb.data.new_record(custom, ms, user, stamp.project)

        change = await asyncio.to_thread(
            records.upsert,
            coll,
            rows,
            unique,
            types,
            stamp,
            new_record,
            sb.config.all_or_nothing,
            frozenset(sb.config.reject_keys),
        )
    entry = applied(
        request,
        at,
        f"{coll.kind}.upsert",
        change.keys,
        inserted=len(change.inserted_ids),
        updated=change.modified,
    )
    body = {
        "insertedIds": change.inserted_ids,
        "insertedCount": len(change.inserted_ids),
        "updatedCount": change.updated,
    }
    return _answer(change, entry, body, 201)


async def _patch(
    request: web.Request, sb: ExtoSandbox, coll: Collection, user: str, *, one_object: bool
) -> tuple[records.Change, AppliedWrite | None]:
    rows = _without_id(await rows_body(request, one_object=one_object))
    unique = sb.config.unique_fields.get(coll.name, ())
    async with sb.data_lock:
        at, ms = sb.write_time()
        stamp = records.Stamp(user, ms, project_scope(request))
        types = await _field_types(sb, coll)
        change = await asyncio.to_thread(
            records.patch,
            coll,
            rows,
            unique,
            types,
            stamp,
            sb.config.all_or_nothing,
            frozenset(sb.config.reject_keys),
        )
    return change, applied(request, at, f"{coll.kind}.patch", change.keys, updated=change.modified)


async def _delete(
    request: web.Request, sb: ExtoSandbox, coll: Collection, user: str, rows: list[Record]
) -> tuple[records.Change, AppliedWrite | None]:
    refused = frozenset(sb.config.reject_keys)
    failed = [
        f"row {i}: {why}"
        for i, row in enumerate(rows, 1)
        if (why := records.refused_key(row, refused)) is not None
    ]
    if failed:  # a delete with a refused row deletes nothing (as all-or-nothing upserts)
        raise ApiError(400, "MODULE_RECORD_VALIDATION_FAILED", *failed)
    async with sb.data_lock:
        at, ms = sb.write_time()
        stamp = records.Stamp(user, ms, project_scope(request))
        change, bad = await asyncio.to_thread(
            records.delete, coll, rows, stamp, sb.config.hard_delete
        )
    if bad:
        raise bad_request(*bad)
    entry = applied(request, at, f"{coll.kind}.delete", change.keys, deleted=change.deleted)
    return change, entry


async def _field_types(sb: ExtoSandbox, coll: Collection) -> schema.FieldTypes:
    """The collection's field types, learnt (in a thread: a scan) on its first write."""
    key = (coll.kind, coll.name)
    types = sb.field_types.get(key)
    if types is None:
        types = await asyncio.to_thread(schema.learn, (coll.get(seq) for seq in coll.seqs()))
        sb.field_types[key] = types
    return types


def _without_id(rows: list[Record]) -> list[Record]:
    if any("_id" in row for row in rows):
        raise bad_request("Updating '_id' is not allowed")
    return rows


def _answer(
    change: records.Change, entry: AppliedWrite | None, body: Any, status: int = 200
) -> WriteOutcome:
    """`body`, or the validation failure listing the invalid rows (after any valid ones landed)."""
    if change.errors:
        error = ApiError(400, "MODULE_RECORD_VALIDATION_FAILED", *change.errors)
        return WriteOutcome(applied=entry, error=error)
    return WriteOutcome(body, status, entry)


def add_routes(app: web.Application) -> None:
    """Register the write routes on `app`."""
    router = app.router
    for path, upsert, patch, delete in (
        ("/master-record/{masterName}", master_upsert, master_patch, master_delete),
        ("/module-record/{moduleName}", module_upsert, module_patch, module_delete),
    ):
        router.add_post(API + path, write_route(upsert))
        router.add_patch(API + path, write_route(patch))
        router.add_delete(API + path, write_route(delete))
    write_flow.add_routes(app)
    write_users.add_routes(app)
