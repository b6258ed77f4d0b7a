"""Exto Data API: streams as data (vendors.md §2, shared/specs/exto-data-api.openapi.json).

Stream names: `master:<NAME>`, `module:<NAME>`, `users`, `groups`, and
`subtable:<MODULE>:<tableId>:<recordId>` (one module record's rows of one sub-table: Exto reads
sub-tables one parent record at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import orjson

from syncer import auth, errors
from syncer.connectors import exto_push_users
from syncer.connectors.exto_push import push
from syncer.models import Connector, PageBody, Request, StreamSpec, ViewSpec

#: Exto's DATE filter compares calendar days in `localTimeZone`; we always ask in UTC.
_TZ = {"localTimeZone": "UTC"}


def _records_page(body: Any) -> PageBody:
    """`{rows,total,page,pageSize,totalPages}`, or the bare array the GitBook page shows."""
    if isinstance(body, dict) and isinstance(body.get("rows"), list):
        rows = body["rows"]
        return PageBody(
            rows,
            len(rows),
            _count(body.get("totalPages")),
            total_records=_count(body.get("total")),
        )
    if isinstance(body, list):
        # user-access is documented as a nested array `[[...]]`: flatten one level
        rows = [r for item in body for r in (item if isinstance(item, list) else [item])]
        return PageBody(rows, len(rows), None)
    raise errors.FatalVendorError("Exto answered with neither a rows envelope nor an array")


def _count(value: Any) -> int | None:
    """A count the envelope reports, if it is a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _record_id(record: Any) -> str | None:
    value = record.get("_id") or record.get("id")
    return value if isinstance(value, str) else None


def _user_name(record: Any) -> str | None:
    user = record.get("user")
    name = user.get("userName") if isinstance(user, dict) else None
    return name.lower() if isinstance(name, str) else None


def _groups_page(body: Any) -> PageBody:
    """Flatten `[{projects:[{projectID,groups,spaces}], groups:[...]}]` into one row per group.

    Paging counts projects: that is the list the endpoint pages over.
    """
    envelope = _records_page(body)
    out: list[dict[str, Any]] = []
    projects = 0
    for item in envelope.records:
        if not isinstance(item, dict):
            continue
        for project in item.get("projects") or []:
            projects += 1
            for group in project.get("groups") or []:
                out.append({"projectID": project.get("projectID"), "group": group})
        for group in item.get("groups") or []:
            out.append({"projectID": None, "group": group})
    # the envelope's `total` counts projects too (the list the endpoint pages over)
    return PageBody(out, projects, envelope.total_pages, total_records=envelope.total_records)


def _group_key(record: Any) -> str | None:
    group = record.get("group")
    if not isinstance(group, str):
        return None
    return orjson.dumps([record.get("projectID"), group]).decode()


def _and(scope: str | None, condition: str) -> str:
    """`scope AND condition` in Exto's filter grammar, where AND binds before OR and there are
    no parentheses: the condition joins each of the scope's OR'd terms."""
    if not scope:
        return condition
    return ":or:".join(f"{term}:and:{condition}" for term in scope.split(":or:"))


def _since(field: str, scope: str | None = None) -> Any:
    def params(since: datetime) -> dict[str, str]:
        return {"filter": _and(scope, f"{field}:DATE:ge:{since.date().isoformat()}"), **_TZ}

    return params


def _between(field: str, scope: str | None = None) -> Any:
    def params(since: date | None, until: date | None) -> dict[str, str]:
        bounds = []
        if since is not None:
            bounds.append(f"{field}:DATE:ge:{since.isoformat()}")
        if until is not None:
            bounds.append(f"{field}:DATE:le:{until.isoformat()}")
        return {"filter": _and(scope, ":and:".join(bounds)), **_TZ}

    return params


def _by_ids(scope: str | None = None) -> Callable[[Sequence[str]], dict[str, str]]:
    def params(keys: Sequence[str]) -> dict[str, str]:
        return {"filter": _and(scope, "_id:STRING:in:" + "|".join(keys))}

    return params


def _paged(path: str) -> Callable[[Mapping[str, str], Any, int], Request]:
    """`GET path?<params>&page=N&pageSize=S`: Exto's offset paging."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        return Request(path, {**params, "page": str(position), "pageSize": str(size)})

    return page


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    kind, _, arg = name.partition(":")
    options = options or {}
    if kind in ("master", "module") and arg:
        route = "master-record" if kind == "master" else "module-record"
        # read options (per stream, or the connection's): Exto's `filter` scopes every page,
        # the incremental filter and the delete confirmations; `status` too
        scope = options.get("filter") or None
        params = {"sort": "_id"}
        if scope:
            params["filter"] = scope
            if ":DATE:" in scope:
                params.update(_TZ)
        if options.get("status"):
            params["status"] = options["status"]
        return StreamSpec(
            name=name,
            key=_record_id,
            extract=_records_page,
            page=_paged(f"/api/v1/{route}/{quote(arg, safe='')}"),
            params=params,
            cursor_field="updatedAt",
            incremental_params=_since("updatedAt", scope),
            lookup_params=_by_ids(scope),
            range_params=_between("updatedAt", scope),
            view=ViewSpec(objects=("customFields",), soft_delete="isDeleted"),
        )
    if name == "users":
        return StreamSpec(
            name=name,
            key=_user_name,
            extract=_records_page,
            page=_paged("/api/v1/user/user-access"),
            # deletes are confirmed by asking for each missing user by name
            lookup_one=lambda key: Request(exto_push_users.BY_USER, {"username": key}),
            lookup_found=exto_push_users.found,
            lookup_absent=exto_push_users.absent,
            view=ViewSpec(objects=("user",)),
        )
    if name == "groups":
        return StreamSpec(
            name=name,
            key=_group_key,
            extract=_groups_page,
            page=_paged("/api/v1/user/groups"),
            # the seed and the OpenAPI document spell the flag differently: send both
            params={"onlyProjectsGroups": "false", "onlyProjectGroups": "false"},
        )
    if kind == "subtable":
        return _subtable(name, arg)
    raise errors.ConfigError(
        f"unknown Exto stream {name!r}; use master:<NAME>, module:<NAME>, users, groups or "
        "subtable:<MODULE>:<tableId>:<recordId>"
    )


def _subtable(name: str, arg: str) -> StreamSpec:
    """One parent record's rows of a sub-table: `GET /sub-table/{tableID}?moduleName=&recordId=`
    (the OpenAPI document's getSubTableRows: moduleName and recordId are required, so there is
    no listing of a sub-table across records). No filter, no sort: every pass is full, and a
    row missing from two complete passes is deleted."""
    module, _, rest = arg.partition(":")
    table, _, parent = rest.partition(":")
    if not module or not table or not parent or ":" in parent:
        raise errors.ConfigError(
            f"Exto sub-table stream {name!r}: use subtable:<MODULE>:<tableId>:<recordId> (the "
            "parent module record's _id)"
        )
    return StreamSpec(
        name=name,
        key=_record_id,
        extract=_records_page,
        page=_paged(f"/api/v1/sub-table/{quote(table, safe='')}"),
        params={"moduleName": module, "recordId": parent},
        view=ViewSpec(objects=("customFields",), soft_delete="isDeleted"),
    )


def _error_summary(body: Any) -> str:
    """`{code,timestamp,path,error:{summary,detail[]}}` -> "summary: detail; detail"."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        detail = err.get("detail") or []
        text = "; ".join(str(d) for d in detail) if isinstance(detail, list) else str(detail)
        return f"{err.get('summary', '')}: {text}".strip(": ")
    return ""


connector = Connector(
    vendor="exto",
    auth=auth.bearer,
    stream=stream,
    error_summary=_error_summary,
    readiness=Request("/api/v1/health/readiness"),
    auth_failures=frozenset({401, 403}),
    push=push,
)
