"""Exto's write endpoints as push specs (vendors.md §2.5).

Endpoint and operation names (what an outbox row says), payload, and rows per request:

- `master:<NAME>`, `module:<NAME>`: `upsert` (a flat record with the unique field, POST),
  `update` (`{refId, ...changed}`, PATCH), `delete` (`{refId}` or `{recordNumber}`); 1,000.
- `subtable:<MODULE>:<tableId>`: `append` (`{recordId, fields: {...}}`); 1,000 of one parent.
- `workflow:<MODULE>`: `submit`, `reject`, `approve` (`{recordId[, userName, spaceName]}`); 100.
- `users`: `grant` (the user-access body `{user: {userName, email}, projects, groups}`),
  `revoke` (`{username, projects, groups}`), `remove_projects` (`{username, projectIds}`): one
  user per request; `activate`, `deactivate` (`{userName}`): 1,000 names.

`userName` (module writes and workflow actions) and `spaceName` come from the payload or from the
connection's options `user_name` and `space_name`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from syncer import errors
from syncer.models import Name, PushSpec, Request, Sender

#: Exto's request limits (vendors.md §2.5)
MAX_ROWS = 1000
MAX_WORKFLOW_IDS = 100
MAX_ACCESS = 100
WORKFLOW_ACTIONS = {"submit": "Submit", "reject": "Reject", "approve": "Approve"}


def _record_id(record: Any) -> str | None:
    value = record.get("_id") or record.get("id")
    return value if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    """A key value as text: strings and numbers only."""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return None
    return str(value)


def _unique_field(name: str, options: Mapping[str, str]) -> str:
    field = options.get(f"unique:{name.upper()}") or options.get(f"unique:{name}")
    if not field:
        raise errors.MissingOption(
            f"pushing to Exto {name!r} needs the unique field that upserts match on: "
            f'options = {{ "unique:{name.upper()}" = "<field>" }}'
        )
    return field


def _counts_add_up(body: Any, sent: int) -> bool:
    """`{insertedCount, updatedCount}` accounting for every row sent."""
    if not isinstance(body, dict):
        return False
    counts = (body.get("insertedCount", 0), body.get("updatedCount"))
    return all(isinstance(c, int) for c in counts) and sum(counts) == sent


def _filter_in(field: str, keys: Sequence[str]) -> str:
    typed = "NUMBER" if all(k.lstrip("-").isdigit() for k in keys) else "STRING"
    return f"{field}:{typed}:in:" + "|".join(keys)


def _object(row: Any) -> str | None:
    return None if isinstance(row, dict) else "the payload is not a JSON object"


#: an error answer about one record or user, not about the request as a whole
_ABOUT_ONE = re.compile(r"no matching record|record \S+ not found|user \S+ not found")


def _whole_request(kind: str = "", name: str = "") -> Callable[[int | None, str], str | None]:
    """Exto's answers about the request itself rather than its rows (docs/push.md): the
    master or module does not exist (`<NAME> not Found.`: a 404 in the sandbox, a 500 in
    vendors.md's example), the acting user is missing or inactive (400), or a 404 or 405 that
    names no record or user (the path does not exist: the base URL is wrong)."""
    missing = f"{name.lower()} not found" if name else None

    def check(status: int | None, text: str) -> str | None:
        low = text.lower()
        if missing is not None and missing in low:
            return f"Exto has no {kind} {name.upper()}; check the endpoint's name"
        if "missing username" in low or "user not found or active" in low:
            return "the acting user is missing or not an active Exto user; set options.user_name"
        if status in (404, 405) and not _ABOUT_ONE.search(low):
            return f"Exto answered {status} for the path itself; check the connection's base_url"
        return None

    return check


def _holds(row: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a record read back shows a master/module write applied: live (a soft-deleted
    record stays listed, but writes no longer reach it) and holding every value sent."""
    custom = record.get("customFields")
    if record.get("isDeleted") is True or not isinstance(custom, dict):
        return False
    return all(custom.get(k) == v for k, v in row.items() if k != "refId")


def _family(kind: str, name: str) -> str:
    """Exto upper-cases master and module names: `module:inspection` is `module:INSPECTION`."""
    return f"{kind}:{name.upper()}"


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """The push spec for an outbox row's endpoint and operation."""
    kind, _, name = endpoint.partition(":")
    builders: dict[tuple[str, str], Callable[[str, str, Mapping[str, str]], PushSpec]] = {
        ("records", "upsert"): _upsert,
        ("records", "update"): _update,
        ("records", "delete"): _delete,
        ("subtable", "append"): _append,
        ("users", "grant"): _grant,
        ("users", "revoke"): _revoke,
        ("users", "remove_projects"): _remove_projects,
        ("users", "activate"): _set_status,
        ("users", "deactivate"): _set_status,
    }
    family = "records" if kind in ("master", "module") and name else kind
    if kind == "workflow" and name and operation.lower() in WORKFLOW_ACTIONS:
        return _workflow(endpoint, operation.lower(), options)
    if kind == "users" and name:
        family = ""
    builder = builders.get((family, operation))
    if builder is None:
        raise errors.ConfigError(
            f"Exto cannot push {operation!r} to {endpoint!r}; use master:<NAME> or "
            "module:<NAME> with upsert, update or delete; subtable:<MODULE>:<tableId> with "
            "append; workflow:<MODULE> with submit, reject or approve; users with grant, "
            "revoke, remove_projects, activate or deactivate"
        )
    return builder(endpoint, operation, options)


def _route(endpoint: str) -> tuple[str, str, str]:
    """(kind, NAME, path) of a master or module endpoint."""
    kind, _, name = endpoint.partition(":")
    route = "master-record" if kind == "master" else "module-record"
    return kind, name, f"/api/v1/{route}/{quote(name, safe='')}"


def _user_params(kind: str, options: Mapping[str, str]) -> dict[str, str]:
    """Module writes name the acting user (`userName`); masters act as the token's user."""
    if kind == "module" and "user_name" in options:
        return {"userName": options["user_name"]}
    return {}


def _upsert(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Master/module upserts: arrays of flat rows, matched on a field the tenant made unique."""
    kind, name, path = _route(endpoint)
    unique = _unique_field(name, options)
    params = _user_params(kind, options)

    def invalid(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        value = row.get(unique)
        if value is None or value == "":
            return f"the payload has no value for the unique field {unique!r}"
        if isinstance(value, dict | list):
            return f"the unique field {unique!r} must be a number or a string"
        return None

    def lookup(keys: Sequence[str]) -> Request:
        query = {"filter": _filter_in(unique, keys), "page": "1"}
        return Request(path, {**query, "pageSize": str(len(keys))})

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        custom = record.get("customFields")
        value = custom.get(unique) if isinstance(custom, dict) else None
        if record.get("isDeleted") is True:
            # a soft-deleted record keeps its unique value and stays listed, but upserts no
            # longer match it: the key's record is the live one
            value = None
        return (None if value is None else str(value)), _record_id(record)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=MAX_ROWS,
        request=lambda rows: Request(path, params, method="POST", json=rows),
        invalid=invalid,
        key=lambda row: str(row[unique]),
        acknowledged=_counts_add_up,
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        fields_at=("customFields",),
        mirror_key=(("customFields", unique),),
        names=lambda row: [(("customFields", unique), str(row[unique]))],
        holds=_holds,
        family=_family(kind, name),
        whole_request=_whole_request(kind, name),
    )


def _by_ref(path: str) -> tuple[Callable[[Sequence[str]], Request], Callable[..., Any]]:
    """A lookup by refId (or recordNumber) and the matching identify."""

    def lookup(keys: Sequence[str]) -> Request:
        either = f"{_filter_in('refId', keys)}:or:{_filter_in('recordNumber', keys)}"
        return Request(path, {"filter": either, "page": "1", "pageSize": str(2 * len(keys))})

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        return _text(record.get("refId")), _record_id(record)

    return lookup, identify


def _update(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """PATCH `[{refId, ...changed}]`: only the fields given change. `_id` may not be sent."""
    kind, name, path = _route(endpoint)
    unique = options.get(f"unique:{name.upper()}") or options.get(f"unique:{name}")

    def names(row: dict[str, Any]) -> list[Name]:
        # an update that sets the unique field gives its record that name too: a later upsert
        # naming the new value is about the same record
        own: list[Name] = [(("refId",), str(row["refId"]))]
        if unique and _text(row.get(unique)) is not None:
            own.append((("customFields", unique), str(row[unique])))
        return own

    params = _user_params(kind, options)
    lookup, identify = _by_ref(path)

    def invalid(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        if _text(row.get("refId")) is None:
            return "an update needs the record's refId"
        if "_id" in row:
            return "Exto refuses to update '_id'; name the record by refId"
        if len(row) < 2:
            return "the update changes no field"
        return None

    def acknowledged(body: Any, sent: int) -> bool:
        # masters answer {updatedCount}; modules the upsert shape. A record not found is not
        # counted: the read-back then rejects exactly those rows.
        return _counts_add_up(body, sent)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=MAX_ROWS,
        request=lambda rows: Request(path, params, method="PATCH", json=rows),
        invalid=invalid,
        key=lambda row: str(row["refId"]),
        acknowledged=acknowledged,
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        mirror_key=(("refId",),),
        names=names,
        holds=_holds,
        family=_family(kind, name),
        whole_request=_whole_request(kind, name),
    )


def _delete(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """DELETE `[{refId}]` or `[{recordNumber}]`. A master delete by a user without the right
    answers 200 `success: false` (rejected, not split); a module delete matching nothing
    answers 404 (nothing left to do: the row is accepted)."""
    kind, name, path = _route(endpoint)
    # both master and module deletes name the acting user ([E10][E11])
    params = {"userName": options["user_name"]} if "user_name" in options else {}
    lookup, identify = _by_ref(path)

    def invalid(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        given = [f for f in ("refId", "recordNumber") if _text(row.get(f)) is not None]
        if len(given) != 1:
            return "a delete names its record by exactly one of refId or recordNumber"
        return None

    def key(row: dict[str, Any]) -> str:
        return str(row.get("refId") or row["recordNumber"])

    def names(row: dict[str, Any]) -> list[Name]:
        if _text(row.get("refId")) is not None:
            return [(("refId",), str(row["refId"]))]
        # a module's recordNumber, or on a master (which has none) a refId: Exto's two delete
        # bodies (vendors.md §2.5); all three names, so both readings order the same way
        number = str(row["recordNumber"])
        return [
            (("recordNumber",), number),
            (("customFields", "recordNumber"), number),
            (("refId",), number),
        ]

    def refused(body: Any) -> str | None:
        if isinstance(body, dict) and body.get("success") is False:
            return f"Exto refused the delete: {body.get('message') or 'success: false'}"
        return None

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=MAX_ROWS,
        request=lambda rows: Request(path, params, method="DELETE", json=rows),
        invalid=invalid,
        key=key,
        acknowledged=lambda body, sent: isinstance(body, dict) and body.get("success") is True,
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        group=lambda row: "refId" if "refId" in row else "recordNumber",
        refused=refused,
        done_statuses=frozenset({404}),
        deletes=True,
        mirror_key=(("refId",), ("recordNumber",), ("customFields", "recordNumber")),
        names=names,
        family=_family(kind, name),
        whole_request=_whole_request(kind, name),
    )


def _append(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Sub-table rows appended under a module record. Not idempotent: sending a row twice
    stores it twice. Before a parent's rows are first sent, the ids of the rows it already
    has are stored with them; a later doubt (a timeout, a push that died) is settled by
    matching the rows added since against the rows to send, and only the others are sent."""
    _, _, rest = endpoint.partition(":")
    module, _, table = rest.partition(":")
    if not module or not table:
        raise errors.ConfigError(
            f"Exto sub-table endpoint {endpoint!r}: use subtable:<MODULE>:<tableId>"
        )
    path = f"/api/v1/sub-table/{quote(table, safe='')}"

    def params(parent: str) -> dict[str, str]:
        # the seed names the parameter recordName, the docs recordId: send both
        return {"moduleName": module, "recordId": parent, "recordName": parent}

    def invalid(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        if _text(row.get("recordId")) is None:
            return "a sub-table row needs recordId, the parent module record's _id"
        if not isinstance(row.get("fields"), dict) or not row["fields"]:
            return "a sub-table row needs fields, an object of the row's values"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(
            path, params(rows[0]["recordId"]), method="POST", json=[r["fields"] for r in rows]
        )

    async def parent_rows(send: Sender, parent: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        number = 1
        while True:
            query = {**params(parent), "page": str(number), "pageSize": str(MAX_ROWS)}
            body = await send(Request(path, query))
            rows = body.get("rows") if isinstance(body, dict) else body
            if not isinstance(rows, list):
                raise errors.FatalVendorError("Exto answered a sub-table read without rows")
            found += [r for r in rows if isinstance(r, dict)]
            if len(rows) < MAX_ROWS:
                return found
            number += 1

    async def evidence(send: Sender, rows: list[dict[str, Any]]) -> Any:
        return {
            "before": sorted(_record_id(r) or "" for r in await parent_rows(send, _parent(rows)))
        }

    async def landed(
        send: Sender, rows: list[dict[str, Any]], evidences: list[Any]
    ) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = [None] * len(rows)
        for parent in sorted({str(r["recordId"]) for r in rows}):
            mine = [i for i, r in enumerate(rows) if str(r["recordId"]) == parent]
            before = set()
            for i in mine:
                if isinstance(evidences[i], dict):
                    before |= set(evidences[i].get("before") or [])
            # the rows added since the evidence, by content; each may account for one row
            added: dict[bytes, list[dict[str, Any]]] = {}
            for record in await parent_rows(send, parent):
                if _record_id(record) not in before:
                    added.setdefault(_canonical(record.get("customFields")), []).append(record)
            for i in mine:
                same = added.get(_canonical(rows[i]["fields"]))
                if same:
                    out[i] = same.pop(0)
        return out

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=MAX_ROWS,
        request=request,
        invalid=invalid,
        key=lambda row: orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode(),
        acknowledged=lambda body, sent: (
            _counts_add_up(body, sent)
            and isinstance(body, dict)
            and body.get("insertedCount") == sent
        ),
        identify=lambda record: (None, _record_id(record)),
        positional_ids=_inserted_ids,
        idempotent=False,
        group=lambda row: str(row["recordId"]),
        evidence=evidence,
        landed=landed,
        supersedes=False,
        whole_request=_whole_request("module", module),
    )


def _inserted_ids(body: Any) -> list[str]:
    ids = body.get("insertedIds") if isinstance(body, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _parent(rows: list[dict[str, Any]]) -> str:
    parents = Counter(str(r["recordId"]) for r in rows)
    assert len(parents) == 1, "a sub-table request holds the rows of one parent"
    return next(iter(parents))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _workflow(endpoint: str, action: str, options: Mapping[str, str]) -> PushSpec:
    """An action (Submit, Reject, Approve) on up to 100 module records by `_id`. The records
    are read back by `_id` afterwards for the mirror."""
    _, _, module = endpoint.partition(":")
    path = f"/api/v1/workflow/{quote(module, safe='')}"
    record_path = f"/api/v1/module-record/{quote(module, safe='')}"

    def actor(row: dict[str, Any]) -> tuple[str, str]:
        user = row.get("userName") or options.get("user_name") or ""
        space = row.get("spaceName") or options.get("space_name") or ""
        return str(user), str(space)

    def invalid(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        if _text(row.get("recordId")) is None:
            return "a workflow action needs recordId, the module record's _id"
        if not actor(row)[0]:
            return "a workflow action needs userName (in the payload or options.user_name)"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        user, space = actor(rows[0])
        query = {"actionName": WORKFLOW_ACTIONS[action], "userName": user}
        if space:
            query["spaceName"] = space
        return Request(path, query, method="POST", json=[str(r["recordId"]) for r in rows])

    def acknowledged(body: Any, sent: int) -> bool:
        return isinstance(body, list) and len(body) == sent

    def lookup(keys: Sequence[str]) -> Request:
        query = {"filter": _filter_in("_id", keys), "page": "1", "pageSize": str(len(keys))}
        return Request(record_path, query)

    return PushSpec(
        endpoint=endpoint,
        operation=action,
        max_chunk=MAX_WORKFLOW_IDS,
        request=request,
        invalid=invalid,
        key=lambda row: str(row["recordId"]),
        acknowledged=acknowledged,
        lookup=lookup,
        identify=lambda record: (_record_id(record), _record_id(record)),
        stream=f"module:{module}",
        lookup_batch=MAX_WORKFLOW_IDS,
        group=lambda row: "\n".join(actor(row)),
        # an action is about a module record, like that module's upserts, updates and deletes
        names=lambda row: [(("_id",), str(row["recordId"]))],
        family=_family("module", module),
        whole_request=_whole_request("module", module),
    )


def _user_name(record: Any) -> str | None:
    user = record.get("user")
    name = user.get("userName") if isinstance(user, dict) else None
    return name.lower() if isinstance(name, str) else None


def _named(row: dict[str, Any]) -> str | None:
    """The user a users row is about: `user.userName`, `username` or `userName`."""
    user = row.get("user")
    name = user.get("userName") if isinstance(user, dict) else None
    name = name or row.get("username") or row.get("userName")
    return name.strip().lower() if isinstance(name, str) and name.strip() else None


def _user_spec(
    endpoint: str,
    operation: str,
    request: Callable[[list[dict[str, Any]]], Request],
    invalid: Callable[[dict[str, Any]], str | None],
    acknowledged: Callable[[Any, int], bool],
    max_chunk: int = 1,
) -> PushSpec:
    """A users write; afterwards the users it touched are read back from the user-access list
    (Exto has no lookup by username), for the mirror."""

    def checked(row: Any) -> str | None:
        if (problem := _object(row)) is not None:
            return problem
        if _named(row) is None:
            return "the payload names no user (user.userName, username or userName)"
        return invalid(row)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=max_chunk,
        request=request,
        invalid=checked,
        key=lambda row: _named(row) or "",
        acknowledged=acknowledged,
        identify=lambda record: (_user_name(record), _user_name(record)),
        stream="users",
        scan=True,
        whole_request=_whole_request(),
    )


def _access_count(row: dict[str, Any], *lists: str) -> str | None:
    total = 0
    for name in lists:
        items = row.get(name, [])
        if not isinstance(items, list):
            return f"{name} must be an array"
        total += len(items)
    if total > MAX_ACCESS:
        return (
            f"Exto takes at most {MAX_ACCESS} projects and groups per request and this row "
            f"holds {total}; split it into several outbox rows"
        )
    return None


def _grant(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """POST /user/user-access: creates the user or adds the access (an upsert by userName)."""

    def invalid(row: dict[str, Any]) -> str | None:
        user = row.get("user")
        if isinstance(user, dict) and str(user.get("email", "")).lower() != _named(row):
            return "user.userName and user.email must be the same address"
        return _access_count(row, "projects", "groups")

    return _user_spec(
        endpoint,
        operation,
        lambda rows: Request("/api/v1/user/user-access", method="POST", json=rows[0]),
        invalid,
        lambda body, sent: _counts_add_up(body, sent),
    )


def _revoke(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """DELETE /user/user-access `{username, projects, groups}`."""

    def invalid(row: dict[str, Any]) -> str | None:
        if not row.get("projects") and not row.get("groups"):
            return "a revoke names projects or groups to remove"
        return _access_count(row, "projects", "groups")

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {"username": _named(rows[0]), "projects": rows[0].get("projects", [])}
        if "groups" in rows[0]:
            body["groups"] = rows[0]["groups"]
        return Request("/api/v1/user/user-access", method="DELETE", json=body)

    return _user_spec(endpoint, operation, request, invalid, lambda body, sent: True)


def _remove_projects(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """DELETE /user/project-access `{username, projectIds}`."""

    def invalid(row: dict[str, Any]) -> str | None:
        if not row.get("projectIds"):
            return "remove_projects names projectIds"
        return _access_count(row, "projectIds")

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {"username": _named(rows[0]), "projectIds": rows[0]["projectIds"]}
        return Request("/api/v1/user/project-access", method="DELETE", json=body)

    return _user_spec(endpoint, operation, request, invalid, lambda body, sent: True)


def _set_status(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """PATCH /user/activate-users or /deactivate-users with up to 1,000 usernames; the answer
    is MongoDB's bulk result, whose nMatched must equal the names sent (an unknown name is
    isolated by halving and rejected)."""
    path = f"/api/v1/user/{operation}-users"

    def acknowledged(body: Any, sent: int) -> bool:
        return isinstance(body, dict) and body.get("ok") == 1 and body.get("nMatched") == sent

    return _user_spec(
        endpoint,
        operation,
        lambda rows: Request(path, method="PATCH", json=[_named(r) for r in rows]),
        lambda row: None,
        acknowledged,
        max_chunk=MAX_ROWS,
    )
