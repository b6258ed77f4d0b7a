"""Exto user writes: grant access (`POST /user/user-access`, an upsert by userName), revoke groups
(`DELETE /user/user-access`), remove projects (`DELETE /user/project-access`), and (de)activate
(`PATCH /user/activate-users`, `/deactivate-users`), on the directory the reads serve.

Usernames are lower-cased before use, as Exto's docs say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from syncer.sandbox.exto import directory
from syncer.sandbox.exto.state import ExtoSandbox
from syncer.sandbox.exto.wire import API
from syncer.sandbox.exto.write_body import MAX_ROWS, bad_request, json_body, strings_body
from syncer.sandbox.exto.write_outcome import WriteOutcome, applied, write_route

#: most projects plus groups in one grant or revoke ("up to 100 projects and/or groups")
MAX_ACCESS = 100
SUCCESS = {"status": "success"}


async def grant_access(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Body `{user: {userName, email, ...}, projects: [{projectId, groups, spaces}], groups}`
    (the seed), or `{username, projects: [id], groups}` (the OpenAPI example). A new user is
    created (status 1 unless given); a known one gets the fields and the access added."""
    body = await _object(request)
    fields, name = _user_fields(body)
    projects = [_grant(item, sb) for item in _limited(body, "projects", required=False)]
    groups = _names(_limited(body, "groups", required=False), "groups")
    _total(projects, groups)
    async with sb.data_lock:
        at, ms = sb.write_time()
        entry = directory.find_user(sb.data.users, name)
        if entry is None:
            sb.data.users.append(directory.new_user(fields, projects, groups))
            ids = [sb.data.new_id(ms)]
            done = applied(request, at, "user.upsert", [name], inserted=1)
        else:
            ids = []
            changed = directory.grant(entry, fields, projects, groups)
            # a grant that changed nothing still counts as updated, but is not in the ledger
            done = applied(request, at, "user.upsert", [name], updated=int(changed))
    result = {"insertedIds": ids, "insertedCount": len(ids), "updatedCount": 1 - len(ids)}
    return WriteOutcome(result, applied=done)


async def revoke_access(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Body `{username, projects, groups}`: remove tenant `groups`, and project-level groups per
    project (an id: all of them; `{projectId, groups}`: those). Nothing to remove: empty body."""
    body = await _object(request)
    name = _username(body, "projects")
    projects = [_revoke(item) for item in _limited(body, "projects", required=True)]
    groups = _names(_limited(body, "groups", required=False), "groups")
    _total(projects, groups)
    if not projects and not groups:
        return WriteOutcome(None)  # Exto's docs: "the response body is empty"
    async with sb.data_lock:
        at, _ = sb.write_time()
        changed = directory.revoke_groups(_known(sb, name), projects, groups)
    return WriteOutcome(
        SUCCESS, applied=applied(request, at, "user.revoke", [name], updated=changed)
    )


async def remove_projects(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    """Body `{username, projectIds}` (`projects` also accepted): the user leaves those projects."""
    body = await _object(request)
    name = _username(body, "projectIds")
    key = "projectIds" if "projectIds" in body else "projects"
    ids = [_revoke(item)[0] for item in _limited(body, key, required=True, label="projectIds")]
    async with sb.data_lock:
        at, _ = sb.write_time()
        changed = directory.remove_projects(_known(sb, name), ids)
    entry = applied(request, at, "user.remove_projects", [name], updated=changed)
    return WriteOutcome(SUCCESS, applied=entry)


async def activate(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    return await _set_status(request, sb, 1, "user.activate")


async def deactivate(request: web.Request, sb: ExtoSandbox) -> WriteOutcome:
    return await _set_status(request, sb, 0, "user.deactivate")


async def _set_status(
    request: web.Request, sb: ExtoSandbox, status: int, operation: str
) -> WriteOutcome:
    """1..1000 usernames → the raw Mongo bulk result of the seed; unknown names are skipped."""
    names = await strings_body(request, MAX_ROWS, "usernames")
    async with sb.data_lock:
        at, ms = sb.write_time()
        matched, modified = directory.set_status(sb.data.users, names, status)
    entry = applied(request, at, operation, modified, updated=len(modified))
    return WriteOutcome(bulk_result(len(matched), len(modified), ms), applied=entry)


def bulk_result(matched: int, modified: int, at_ms: int) -> dict[str, Any]:
    """MongoDB's BulkWriteResult as the seed shows it; `opTime.ts` is a BSON timestamp (seconds
    << 32 | an increment, here the milliseconds + 1) and `t` a fixed term (our assumption)."""
    seconds, millis = divmod(at_ms, 1000)
    return {
        "ok": 1,
        "writeErrors": [],
        "writeConcernErrors": [],
        "insertedIds": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": matched,
        "nModified": modified,
        "nRemoved": 0,
        "upserted": [],
        "opTime": {"ts": {"$timestamp": str(seconds << 32 | millis + 1)}, "t": 1},
    }


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def _user_fields(body: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The user's fields and lower-cased userName: `user.userName` must equal `user.email`."""
    user = body.get("user")
    if user is None:
        name = _username(body, "projects")
        return {"userName": name, "email": name}, name
    if not isinstance(user, dict):
        raise bad_request("user must be an object")
    given, email = user.get("userName"), user.get("email")
    if not isinstance(given, str) or not given.strip():
        raise bad_request("Missing userName.")
    name = given.strip().lower()
    if not isinstance(email, str) or email.strip().lower() != name:
        raise bad_request("userName and email must be the same")
    return user | {"userName": name, "email": name}, name


def _username(body: Mapping[str, Any], lists: str) -> str:
    name = body.get("username", body.get("userName"))
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"Missing username/{lists}.")
    return name.strip().lower()


def _limited(
    body: Mapping[str, Any], key: str, *, required: bool, label: str | None = None
) -> list[Any]:
    """The array `body[key]` (at most 100 items; absent: [] unless `required`)."""
    label = label or key
    if key not in body and required:
        raise bad_request(f"Missing username/{label}.")
    items = body.get(key, [])
    if not isinstance(items, list):
        raise bad_request(f"{label} must be an array")
    if len(items) > MAX_ACCESS:
        raise bad_request(f"{label[0].upper()}{label[1:]} length must not exceed {MAX_ACCESS}")
    return items


def _total(projects: list[Any], groups: list[str]) -> None:
    if len(projects) + len(groups) > MAX_ACCESS:
        raise bad_request(f"Projects and groups must not exceed {MAX_ACCESS} in total")


def _names(items: list[Any], what: str) -> list[str]:
    if not all(isinstance(item, str) for item in items):
        raise bad_request(f"{what} must be an array of strings")
    return items


def _project_id(item: Any) -> str:
    """A project id, or the `projectId` (`projectID`) of a project object."""
    value = item.get("projectId", item.get("projectID")) if isinstance(item, dict) else item
    if not isinstance(value, str) or not value:
        raise bad_request("Every project must be a project id or have a projectId")
    return value


def _grant(item: Any, sb: ExtoSandbox) -> dict[str, Any]:
    """A project of a grant as `{projectID, groups, spaces}`; the project must exist."""
    project_id = _project_id(item)
    if not any(p["projectID"] == project_id for p in sb.data.projects):
        raise bad_request(f"Project {project_id} not found.")
    given = item if isinstance(item, dict) else {}
    groups = _names(given.get("groups", []), "project groups")
    spaces = _names(given.get("spaces", []), "project spaces")
    return {"projectID": project_id, "groups": groups, "spaces": spaces}


def _revoke(item: Any) -> tuple[str, list[str] | None]:
    """A project of a revoke: its id, and the groups named (None: all of them)."""
    groups = item.get("groups") if isinstance(item, dict) else None
    return _project_id(item), None if groups is None else _names(groups, "project groups")


def _known(sb: ExtoSandbox, name: str) -> dict[str, Any]:
    entry = directory.find_user(sb.data.users, name)
    if entry is None:
        raise bad_request(f"User {name} not found.")
    return entry


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(API + "/user/user-access", write_route(grant_access))
    router.add_delete(API + "/user/user-access", write_route(revoke_access))
    router.add_delete(API + "/user/project-access", write_route(remove_projects))
    router.add_patch(API + "/user/activate-users", write_route(activate))
    router.add_patch(API + "/user/deactivate-users", write_route(deactivate))
