"""Exto's write endpoints as push specs (vendors.md §2.5).

Endpoint and operation names (what an outbox row says), payload, and rows per request:

- `master:<NAME>`, `module:<NAME>`: `upsert` (a flat record with the unique field, POST),
  `update` (`{refId, ...changed}`, PATCH), `delete` (`{refId}` or `{recordNumber}`); 1,000.
- `subtable:<MODULE>:<tableId>[:<recordId>]`: `append` (`{recordId, fields: {...}}`), `delete`
  (`{recordId, recordNumber}`); 1,000 of one parent (`recordId` left out when the endpoint
  names the parent).
- `workflow:<MODULE>`: `submit`, `reject`, `approve` (`{recordId[, userName, spaceName]}`); 100.
- `users`: `grant` (the user-access body `{user: {userName, email}, projects, groups}`),
  `revoke` (`{username, projects, groups}`), `remove_projects` (`{username, projectIds}`): one
  user per request; `activate`, `deactivate` (`{userName}`): 1,000 names.

`userName` (module writes and workflow actions) and `spaceName` come from the payload or from the
connection's options `user_name` and `space_name`. Master, module and workflow specs are here;
sub-table appends and deletes in `exto_push_subtable`, user access in `exto_push_users`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from syncer import errors
from syncer.connectors import exto_answers as answers
from syncer.connectors import exto_lookup, exto_push_subtable, exto_push_users
from syncer.models import Answer, Follow, Name, Order, PushSpec, ReadBack, Request

#: most record ids per workflow action (vendors.md §2.5; rows per write: answers.MAX_ROWS)
MAX_WORKFLOW_IDS = 100
WORKFLOW_ACTIONS = {"submit": "Submit", "reject": "Reject", "approve": "Approve"}


def _unique_field(name: str, options: Mapping[str, str]) -> str:
    field = options.get(f"unique:{name.upper()}") or options.get(f"unique:{name}")
    if not field:
        raise errors.MissingOption(
            f"pushing to Exto {name!r} needs the unique field that upserts match on: "
            f'options = {{ "unique:{name.upper()}" = "<field>" }}'
        )
    return field


_filter_in = exto_lookup.filter_in


def _holds(row: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a record read back shows a master/module write applied: live (a soft-deleted
    record stays listed, but writes no longer reach it) and holding every value sent."""
    custom = record.get("customFields")
    if record.get("isDeleted") is True or not isinstance(custom, dict):
        return False
    return all(custom.get(k) == v for k, v in row.items() if k != "refId")


def _gone(record: dict[str, Any]) -> bool:
    """A soft-deleted record: still listed, but no write reaches it any more."""
    return record.get("isDeleted") is True


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
        ("subtable", "append"): exto_push_subtable.append,
        ("subtable", "delete"): exto_push_subtable.delete,
        ("users", "grant"): exto_push_users.grant,
        ("users", "revoke"): exto_push_users.revoke,
        ("users", "remove_projects"): exto_push_users.remove_projects,
        ("users", "activate"): exto_push_users.set_status,
        ("users", "deactivate"): exto_push_users.set_status,
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
            "append or delete; workflow:<MODULE> with submit, reject or approve; users with grant, "
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
        if (problem := answers.not_object(row)) is not None:
            return problem
        value = row.get(unique)
        if value is None or value == "":
            return f"the payload has no value for the unique field {unique!r}"
        if isinstance(value, dict | list):
            return f"the unique field {unique!r} must be a number or a string"
        return None

    def lookup(keys: Sequence[str]) -> Request:
        # live records only, runs of integers as ranges (exto_lookup)
        return exto_lookup.lookup(path, {}, unique, keys)

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        custom = record.get("customFields")
        value = custom.get(unique) if isinstance(custom, dict) else None
        if record.get("isDeleted") is True:
            # a soft-deleted record keeps its unique value and stays listed, but upserts no
            # longer match it: the key's record is the live one
            value = None
        return (None if value is None else str(value)), answers.record_id(record)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=answers.MAX_ROWS,
        # two chunks in flight: one's read-back and mirror merge overlap the next one's upsert,
        # so the 3 requests/s, not the round trips, set the pace (a wave's keys are distinct)
        fan_out=2,
        request=lambda rows: Request(path, params, method="POST", json=rows),
        invalid=invalid,
        key=lambda row: str(row[unique]),
        answer=Answer(
            acknowledged=answers.counts_add_up, whole_request=answers.whole_request(kind, name)
        ),
        read_back=ReadBack(
            lookup=lookup, identify=identify, holds=_holds, more=exto_lookup.next_page
        ),
        follow=Follow(
            stream=endpoint,
            fields_at=("customFields",),
            mirror_key=(("customFields", unique),),
            gone=_gone,
        ),
        order=Order(
            names=lambda row: [(("customFields", unique), str(row[unique]))],
            family=_family(kind, name),
        ),
    )


def _by_ref(path: str) -> tuple[Callable[[Sequence[str]], Request], Callable[..., Any]]:
    """A lookup by refId (or recordNumber) and the matching identify."""

    def lookup(keys: Sequence[str]) -> Request:
        either = f"{_filter_in('refId', keys)}:or:{_filter_in('recordNumber', keys)}"
        return Request(path, {"filter": either, "page": "1", "pageSize": str(2 * len(keys))})

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        return answers.text(record.get("refId")), answers.record_id(record)

    return lookup, identify


def _update(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """PATCH `[{refId, ...changed}]`: only the fields given change. `_id` may not be sent."""
    kind, name, path = _route(endpoint)
    unique = options.get(f"unique:{name.upper()}") or options.get(f"unique:{name}")

    def names(row: dict[str, Any]) -> list[Name]:
        # an update that sets the unique field gives its record that name too: a later upsert
        # naming the new value is about the same record
        own: list[Name] = [(("refId",), str(row["refId"]))]
        if unique and answers.text(row.get(unique)) is not None:
            own.append((("customFields", unique), str(row[unique])))
        return own

    params = _user_params(kind, options)
    lookup, identify = _by_ref(path)

    def invalid(row: Any) -> str | None:
        if (problem := answers.not_object(row)) is not None:
            return problem
        if answers.text(row.get("refId")) is None:
            return "an update needs the record's refId"
        if "_id" in row:
            return "Exto refuses to update '_id'; name the record by refId"
        if len(row) < 2:
            return "the update changes no field"
        return None

    def acknowledged(body: Any, sent: int) -> bool:
        # masters answer {updatedCount}; modules the upsert shape. A record not found is not
        # counted: the read-back then rejects exactly those rows.
        return answers.counts_add_up(body, sent)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=answers.MAX_ROWS,
        request=lambda rows: Request(path, params, method="PATCH", json=rows),
        invalid=invalid,
        key=lambda row: str(row["refId"]),
        answer=Answer(acknowledged=acknowledged, whole_request=answers.whole_request(kind, name)),
        read_back=ReadBack(lookup=lookup, identify=identify, holds=_holds),
        follow=Follow(stream=endpoint, mirror_key=(("refId",),), gone=_gone),
        order=Order(names=names, family=_family(kind, name)),
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
        if (problem := answers.not_object(row)) is not None:
            return problem
        given = [f for f in ("refId", "recordNumber") if answers.text(row.get(f)) is not None]
        if len(given) != 1:
            return "a delete names its record by exactly one of refId or recordNumber"
        return None

    def key(row: dict[str, Any]) -> str:
        return str(row.get("refId") or row["recordNumber"])

    def names(row: dict[str, Any]) -> list[Name]:
        if answers.text(row.get("refId")) is not None:
            return [(("refId",), str(row["refId"]))]
        # a module's recordNumber, or on a master (which has none) a refId: Exto's two delete
        # bodies (vendors.md §2.5); all three names, so both readings order the same way
        number = str(row["recordNumber"])
        return [
            (("recordNumber",), number),
            (("customFields", "recordNumber"), number),
            (("refId",), number),
        ]

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=answers.MAX_ROWS,
        request=lambda rows: Request(path, params, method="DELETE", json=rows),
        invalid=invalid,
        key=key,
        group=lambda row: "refId" if "refId" in row else "recordNumber",
        answer=Answer(
            acknowledged=lambda body, sent: isinstance(body, dict) and body.get("success") is True,
            refused=answers.delete_refused,
            done_statuses=frozenset({404}),
            whole_request=answers.whole_request(kind, name),
        ),
        read_back=ReadBack(lookup=lookup, identify=identify),
        follow=Follow(
            stream=endpoint,
            deletes=True,
            mirror_key=(("refId",), ("recordNumber",), ("customFields", "recordNumber")),
            gone=_gone,
        ),
        order=Order(names=names, family=_family(kind, name)),
    )


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
        if (problem := answers.not_object(row)) is not None:
            return problem
        if answers.text(row.get("recordId")) is None:
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
        group=lambda row: "\n".join(actor(row)),
        answer=Answer(
            acknowledged=acknowledged, whole_request=answers.whole_request("module", module)
        ),
        read_back=ReadBack(
            lookup=lookup,
            identify=lambda record: (answers.record_id(record), answers.record_id(record)),
            lookup_batch=MAX_WORKFLOW_IDS,
        ),
        follow=Follow(stream=f"module:{module}", gone=_gone),
        order=Order(
            names=lambda row: [(("_id",), str(row["recordId"]))], family=_family("module", module)
        ),
    )
