"""The Exto Data API's read routes, written from Exto's documents (vendors.md §2, the seeds, the
OpenAPI): master and module records (paged, sorted, filtered, scoped), user access, groups and
the health routes. Every route lives under `/data` (Exto's base URL is `<host>/data`); what all
of them go through is in `middleware`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.common.wire import json_response
from syncer.sandbox.exto import filters
from syncer.sandbox.exto.collection import Collection, Predicate, Selection
from syncer.sandbox.exto.lies import PagingLies
from syncer.sandbox.exto.middleware import DRY_READ
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from syncer.sandbox.exto.wire import API, ApiError, Paging, paging, token_user


def _sort(query: Mapping[str, str]) -> tuple[str, bool]:
    """`sort=field` ascending, `sort=-field` descending (our assumption); none = insertion order."""
    text = query.get("sort", "").strip()
    descending = text.startswith("-")
    field = text.removeprefix("-").strip()
    if descending and not field:
        raise ApiError(400, "Bad Request", "Invalid sort: expected field or -field")
    return field, descending


def _scope(request: web.Request, kind: str) -> tuple[Predicate | None, tuple[str, ...]]:
    """The predicate of `filter`, `x-project-id` and (modules) `status` and visibility, and a key
    naming it."""
    query = request.query
    text = query.get("filter", "")
    time_zone = query.get("localTimeZone", "")
    project = request.headers.get("x-project-id", "")
    status = query.get("status", "") if kind == "module" else ""
    tests: list[Predicate] = []
    if text:
        try:
            tests.append(filters.compile_filter(text, time_zone or None))
        except filters.FilterError as exc:
            raise ApiError(400, "Bad Request", str(exc)) from exc
    if project:
        tests.append(lambda record: record.get("projectID") == project)
    if status:
        folded = status.casefold()

        def status_matches(record: dict[str, Any]) -> bool:
            value = record.get("customFields", {}).get("status")
            return isinstance(value, str) and value.casefold() == folded

        tests.append(status_matches)
    owner = ""
    if kind == "module" and request.app[EXTO_KEY].config.hide_unowned_modules:
        owner = token_user(request)
        tests.append(lambda record: visible_to(record, owner))
    if not tests:
        return None, ()
    key = (text, time_zone, project, status, owner)
    if len(tests) == 1:
        return tests[0], key
    return (lambda record: all(t(record) for t in tests)), key


def visible_to(record: dict[str, Any], user: str) -> bool:
    """Exto's module-record visibility (vendors.md §2.8): the user created the record, is a
    listed responsible user, or the record has an active workflow. Our assumptions: responsible =
    a customFields text value equal to the user (INSPECTION's `inspector`); active workflow =
    status `Submitted`."""
    if record.get("createdBy") == user:
        return True
    custom = record.get("customFields")
    if not isinstance(custom, dict):
        return False
    return custom.get("status") == "Submitted" or user in custom.values()


async def readiness(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def liveness(request: web.Request) -> web.Response:
    """Fixed figures (the OpenAPI example): the sandbox is never unhealthy."""
    return json_response({"ok": True, "cpuPercent": 3.2, "memPercent": 41})


async def master_records(request: web.Request) -> web.Response:
    return await _records_page(request, "master", request.match_info["masterName"])


async def module_records(request: web.Request) -> web.Response:
    return await _records_page(request, "module", request.match_info["moduleName"])


async def _records_page(request: web.Request, kind: str, name: str) -> web.Response:
    """One page of a master or module; then churn, if the knobs ask for it."""
    sb = request.app[EXTO_KEY]
    coll = sb.collection(kind, name)
    if coll is None:
        raise ApiError(404, "Not Found", f"{name.upper()} not Found.")
    pages = paging(request.query, default_size=25)
    sort, descending = _sort(request.query)
    predicate, scope = _scope(request, kind)
    async with sb.data_lock:
        if predicate is None:
            selection = coll.select(sort, descending, predicate, scope)
        else:
            # a filter scans the collection (about 1 s at 300,000 records): in a thread, so the
            # event loop keeps timestamping arriving requests for the rate limiter on time
            selection = await asyncio.to_thread(coll.select, sort, descending, predicate, scope)
        return _page_response(sb, coll, selection, pages, churn=not request.get(DRY_READ, False))


def _page_response(
    sb: ExtoSandbox, coll: Collection, selection: Selection, pages: Paging, *, churn: bool = True
) -> web.Response:
    lies = PagingLies.of(sb.config, sb.lies_rng)
    offset, size = lies.window(pages.page, pages.size) if lies.any else (pages.offset, pages.size)
    seqs = selection.page(offset, size)
    # records are stored as their JSON (poison ones encoded by the stdlib), so a page is a join
    body = b"[" + b",".join([coll.raw(seq) for seq in seqs]) + b"]"
    if sb.config.envelope == "rows":
        reported = lies.counts(pages.page, pages.size, selection.total) if lies.any else None
        counts = orjson.dumps(reported or pages.counts(selection.total))
        body = b'{"rows":' + body + b"," + counts[1:]
    response = web.Response(body=body, content_type="application/json")
    inserts, deletes = sb.config.churn_inserts_per_page, sb.config.churn_deletes_per_page
    if churn and seqs and (inserts or deletes):
        sb.data.churn(coll, selection, pages.offset, inserts, deletes)
    return response


async def user_access(request: web.Request) -> web.Response:
    """User-access entries; the array envelope nests the page one level, as the seed shows."""
    sb = request.app[EXTO_KEY]
    pages = paging(request.query, default_size=1000)
    project = request.headers.get("x-project-id", "")
    users = sb.data.users
    if project:
        users = [u for u in users if any(p["projectID"] == project for p in u["projects"])]
    rows = users[pages.offset : pages.offset + pages.size]
    if sb.config.envelope == "rows":
        return json_response(pages.envelope(rows, len(users)))
    return json_response([rows])


async def user_access_by_user(request: web.Request) -> web.Response:
    sb = request.app[EXTO_KEY]
    username = request.query.get("username", "").strip().lower()
    if not username:
        raise ApiError(400, "Bad Request", "username is required")
    for entry in sb.data.users:
        if entry["user"]["userName"] == username:
            return json_response(entry)
    raise ApiError(404, "Not Found", f"User {username} not found.")


async def groups(request: web.Request) -> web.Response:
    """Projects paged, tenant groups on page 1 only (our assumption; the seed shows one object)."""
    sb = request.app[EXTO_KEY]
    pages = paging(request.query, default_size=100)
    query = request.query
    only_projects = any(
        query.get(flag, "").lower() == "true"
        for flag in ("onlyProjectsGroups", "onlyProjectGroups")
    )
    project = request.headers.get("x-project-id", "")
    projects = sb.data.projects
    if project:
        projects = [p for p in projects if p["projectID"] == project]
    tenant = [] if only_projects or pages.page > 1 else list(sb.data.tenant_groups)
    item = {"projects": projects[pages.offset : pages.offset + pages.size], "groups": tenant}
    if sb.config.envelope == "rows":
        return json_response(pages.envelope([item], len(projects)))
    return json_response([item])


def add_routes(app: web.Application) -> None:
    """Register the Exto read routes on `app`."""
    app.router.add_get(API + "/health/readiness", readiness)
    app.router.add_get(API + "/health/liveness", liveness)
    app.router.add_get(API + "/master-record/{masterName}", master_records)
    app.router.add_get(API + "/module-record/{moduleName}", module_records)
    app.router.add_get(API + "/user/user-access", user_access)
    app.router.add_get(API + "/user/user-access/by-user", user_access_by_user)
    app.router.add_get(API + "/user/groups", groups)
