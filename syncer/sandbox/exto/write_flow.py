"""Exto sub-table rows (`/sub-table/{tableId}`: append, list, delete) and workflow actions
(`POST /workflow/{moduleName}`), on module records.

Sub-table POST appends, as Exto's docs say: sending the same rows twice stores them twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from syncer.sandbox.common.wire import json_response
from syncer.sandbox.exto import directory
from syncer.sandbox.exto import write_records as records
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.data import SubTable
from syncer.sandbox.exto.records import iso_ms
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from syncer.sandbox.exto.wire import API, ApiError, paging, token_user
from syncer.sandbox.exto.write_body import (
    MAX_ROWS,
    MAX_WORKFLOW_IDS,
    acting_user,
    bad_request,
    json_body,
    project_scope,
    rows_body,
    strings_body,
    target,
)
from syncer.sandbox.exto.write_outcome import WriteOutcome, applied, write_route

SUB_TABLE = API + "/sub-table/{tableId}"
DELETE_BODY = 'Request body must be a non-empty array of objects with "recordNumber"'


async def subtable_append(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Append the rows, each with a new `_id` and `recordNumber` `<tableId>-<n>`."""
    key, coll = _subtable(request, sb)
    rows = await rows_body(request)
    user = token_user(request)
    async with sb.data_lock:
        _parent(coll, key[2], project_scope(request))
        at, ms = sb.write_time()
        table = sb.data.subtables.setdefault(key, SubTable())
        new: list[dict[str, Any]] = []
        for row in rows:
            row_id = sb.data.new_id(ms)
            new.append(
                {
                    "_id": row_id,
                    "id": row_id,
                    "recordNumber": f"{key[0]}-{table.next_number}",
                    "customFields": row,
                    "parentID": key[2],
                    "tableID": key[0],
                    "tenantID": directory.TENANT_ID,
                    "createdBy": user,
                    "createdAt": iso_ms(ms),
                    "updatedBy": user,
                    "updatedAt": iso_ms(ms),
                }
            )
            table.next_number += 1
        table.rows.extend(new)
    ids = [row["_id"] for row in new]
    body = {"insertedIds": ids, "insertedCount": len(ids), "updatedCount": 0}
    return WriteOutcome(body, 201, applied(request, at, "subtable.append", ids, inserted=len(ids)))


async def subtable_rows(request: web.Request) -> web.Response:
    """One page of a sub-table's rows, in append order, in the configured envelope."""
    sb = request.app[EXTO_KEY]
    key, coll = _subtable(request, sb)
    pages = paging(request.query, default_size=25)
    async with sb.data_lock:
        _parent(coll, key[2], project_scope(request))
        table = sb.data.subtables.get(key, SubTable())
        rows = table.rows[pages.offset : pages.offset + pages.size]
        total = len(table.rows)
    if sb.config.envelope == "rows":
        return json_response(pages.envelope(rows, total))
    return json_response(rows)


async def subtable_delete(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Remove the rows with the given `recordNumber`s (hard: rows have no isDeleted)."""
    key, coll = _subtable(request, sb)
    body = await json_body(request)
    if (
        not isinstance(body, list)
        or not body
        or not all(
            isinstance(item, dict) and isinstance(item.get("recordNumber"), str) for item in body
        )
    ):
        raise bad_request(DELETE_BODY)
    if len(body) > MAX_ROWS:
        raise bad_request(f"Maximum {MAX_ROWS} records allowed but received {len(body)}")
    doomed = [item["recordNumber"] for item in body]
    async with sb.data_lock:
        _parent(coll, key[2], project_scope(request))
        at, _ = sb.write_time()
        table = sb.data.subtables.get(key, SubTable())
        gone = [row["recordNumber"] for row in table.rows if row["recordNumber"] in doomed]
        table.rows[:] = [row for row in table.rows if row["recordNumber"] not in doomed]
    entry = applied(request, at, "subtable.delete", gone, deleted=len(gone))
    return WriteOutcome({"success": True, "message": "Records deleted successfully"}, applied=entry)


async def workflow(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Take `actionName` (Submit, Reject, Approve; any case) on up to 100 records by `_id`."""
    coll = target(sb, "module", request.match_info["moduleName"])
    user = acting_user(request, sb)
    project = project_scope(request)
    if project is not None and not request.query.get("spaceName", "").strip():
        raise bad_request("Missing spaceName.")
    action = request.query.get("actionName", "").strip()
    if action.lower() not in records.WORKFLOW_STATUS:
        raise bad_request(f"Invalid actionName {action!r}: use Submit, Reject or Approve")
    ids = await strings_body(request, MAX_WORKFLOW_IDS, "record ids")
    async with sb.data_lock:
        at, ms = sb.write_time()
        stamp = records.Stamp(user, ms, project)
        answer, unknown = await asyncio.to_thread(
            records.workflow, coll, ids, action, stamp, lambda: sb.data.new_id(ms)
        )
    if unknown:
        raise bad_request(*(f"Record {record_id} not found" for record_id in unknown))
    entry = applied(request, at, "workflow", ids, updated=len(answer))
    return WriteOutcome(answer, 201, entry)


def _subtable(request: web.Request, sb: ExtoSandbox) -> tuple[tuple[str, str, str], Collection]:
    """(tableId, MODULE, parent record id) and the module; `recordName` (the seed's spelling)
    stands for `recordId`."""
    query = request.query
    module = query.get("moduleName", "").strip()
    record_id = (query.get("recordId") or query.get("recordName") or "").strip()
    if not module or not record_id:
        raise bad_request("Missing moduleName, recordId, or tableId.")
    coll = target(sb, "module", module)
    return (request.match_info["tableId"], coll.name, record_id), coll


def _parent(coll: Collection, record_id: str, project: str | None) -> None:
    """404 unless the parent module record is live (and in `project`, when scoped)."""
    if not records.live(coll, "_id", record_id, project):
        raise ApiError(404, "Not Found", f"Record {record_id} not found.")


def add_routes(app: web.Application) -> None:
    app.router.add_post(SUB_TABLE, write_route(subtable_append))
    app.router.add_get(SUB_TABLE, subtable_rows)
    app.router.add_delete(SUB_TABLE, write_route(subtable_delete))
    app.router.add_post(API + "/workflow/{moduleName}", write_route(workflow))
