"""Exto Data API: streams as data (vendors.md §2, shared/specs/exto-data-api.openapi.json).

Stream names: `master:<NAME>`, `module:<NAME>`, `users`, `groups`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from syncer import errors
from syncer.auth import Auth, StaticToken
from syncer.models import Connector, PageBody, PushSpec, Request, StreamSpec, ViewSpec

#: Exto's DATE filter compares calendar days in `localTimeZone`; we always ask in UTC.
_TZ = {"localTimeZone": "UTC"}


def _records_page(body: Any) -> PageBody:
    """`{rows,total,page,pageSize,totalPages}`, or the bare array the GitBook page shows."""
    if isinstance(body, dict) and isinstance(body.get("rows"), list):
        rows = body["rows"]
        total_pages = body.get("totalPages")
        return PageBody(rows, len(rows), total_pages if isinstance(total_pages, int) else None)
    if isinstance(body, list):
        # user-access is documented as a nested array `[[...]]`: flatten one level
        rows = [r for item in body for r in (item if isinstance(item, list) else [item])]
        return PageBody(rows, len(rows), None)
    raise errors.FatalVendorError("Exto answered with neither a rows envelope nor an array")


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
    return PageBody(out, projects, envelope.total_pages)


def _group_key(record: Any) -> str | None:
    group = record.get("group")
    if not isinstance(group, str):
        return None
    return orjson.dumps([record.get("projectID"), group]).decode()


def _since(field: str) -> Any:
    def params(since: datetime) -> dict[str, str]:
        return {"filter": f"{field}:DATE:ge:{since.date().isoformat()}", **_TZ}

    return params


def _by_ids(keys: Sequence[str]) -> dict[str, str]:
    return {"filter": "_id:STRING:in:" + "|".join(keys)}


def _paged(path: str) -> Callable[[Mapping[str, str], Any, int], Request]:
    """`GET path?<params>&page=N&pageSize=S`: Exto's offset paging."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        return Request(path, {**params, "page": str(position), "pageSize": str(size)})

    return page


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    kind, _, arg = name.partition(":")
    if kind in ("master", "module") and arg:
        route = "master-record" if kind == "master" else "module-record"
        return StreamSpec(
            name=name,
            key=_record_id,
            extract=_records_page,
            page=_paged(f"/api/v1/{route}/{quote(arg, safe='')}"),
            params={"sort": "_id"},
            cursor_field="updatedAt",
            incremental_params=_since("updatedAt"),
            lookup_params=_by_ids,
            view=ViewSpec(objects=("customFields",)),
        )
    if name == "users":
        return StreamSpec(
            name=name,
            key=_user_name,
            extract=_records_page,
            page=_paged("/api/v1/user/user-access"),
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
    raise errors.ConfigError(
        f"unknown Exto stream {name!r}; use master:<NAME>, module:<NAME>, users or groups"
    )


def _error_summary(body: Any) -> str:
    """`{code,timestamp,path,error:{summary,detail[]}}` -> "summary: detail; detail"."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        detail = err.get("detail") or []
        text = "; ".join(str(d) for d in detail) if isinstance(detail, list) else str(detail)
        return f"{err.get('summary', '')}: {text}".strip(": ")
    return ""


def _auth(base_url: str, token: str, fetch: Callable[..., Any]) -> Auth:
    return StaticToken("Authorization", f"Bearer {token}")


def _unique_field(name: str, options: Mapping[str, str]) -> str:
    field = options.get(f"unique:{name.upper()}") or options.get(f"unique:{name}")
    if not field:
        raise errors.ConfigError(
            f"pushing to Exto {name!r} needs the unique field that upserts match on: "
            f'options = {{ "unique:{name.upper()}" = "<field>" }}'
        )
    return field


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Exto master/module upserts (vendors.md §2.5): arrays of flat rows, at most 1,000 per
    POST, matched on a field the tenant configured unique."""
    kind, _, name = endpoint.partition(":")
    if kind not in ("master", "module") or not name or operation != "upsert":
        raise errors.ConfigError(
            f"Exto cannot push {operation!r} to {endpoint!r} yet; use master:<NAME> or "
            "module:<NAME> with operation 'upsert'"
        )
    unique = _unique_field(name, options)
    route = "master-record" if kind == "master" else "module-record"
    path = f"/api/v1/{route}/{quote(name, safe='')}"
    params = (
        {"userName": options["user_name"]} if kind == "module" and "user_name" in options else {}
    )

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(path, params, method="POST", json=rows)

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict):
            return "the payload is not a JSON object"
        value = row.get(unique)
        if value is None or value == "":
            return f"the payload has no value for the unique field {unique!r}"
        if isinstance(value, dict | list):
            return f"the unique field {unique!r} must be a number or a string"
        return None

    def acknowledged(body: Any, sent: int) -> bool:
        if not isinstance(body, dict):
            return False
        counts = (body.get("insertedCount"), body.get("updatedCount"))
        return all(isinstance(c, int) for c in counts) and sum(counts) == sent  # type: ignore[arg-type]

    def lookup(keys: Sequence[str]) -> Request:
        typed = "NUMBER" if all(k.lstrip("-").isdigit() for k in keys) else "STRING"
        query = {"filter": f"{unique}:{typed}:in:" + "|".join(keys), "page": "1"}
        return Request(path, {**query, "pageSize": str(len(keys))})

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        custom = record.get("customFields")
        value = custom.get(unique) if isinstance(custom, dict) else None
        return (None if value is None else str(value)), _record_id(record)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=1000,
        request=request,
        invalid=invalid,
        key=lambda row: str(row[unique]),
        acknowledged=acknowledged,
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        fields_at=("customFields",),
    )


connector = Connector(
    vendor="exto",
    auth=_auth,
    stream=stream,
    error_summary=_error_summary,
    readiness=Request("/api/v1/health/readiness"),
    auth_failures=frozenset({401, 403}),
    push=push,
)
