"""Actito's writes as push specs (vendors.md §3.4): one record per call, 4 in flight.

- `profiles:<table>`, `upsert`: attributes -> `POST .../table/{t}/profile?allowUpdate=true`
- `custom:<table>`, `upsert`: properties -> `POST .../customTable/{t}/record`
- `custom:<table>`, `update`: properties with the primary key -> `PUT .../record/{businessKey}`
- `profiles:<table>`, `delete`: `{profileId}` (and the unique attribute) ->
  `DELETE .../profile/{profileId}`
- `custom:<table>`, `delete`: `{<primary key>: value}` -> `DELETE .../record/{businessKey}`

Attributes and properties are flat objects ({name: value}) or Actito's own
{attributes|properties: [{name, value}]}. The connection names the entity (`options.entity`) and
each table's unique attribute (`options."unique:<table>"`: the custom table's primary key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from syncer import errors
from syncer.models import Name, PushSpec, Request, push_spec


def _named(items: Any, name: str, key: str = "name", value: str = "value") -> Any:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get(key) == name:
                return item.get(value)
    return None


def _whole_request(status: int | None, text: str) -> str | None:
    """A 404 or 405 that names no profile or record is about the request itself: the entity
    or table does not exist (a create-or-update never needs its record to exist), or the path
    is wrong. A lookup's "No profile ..." / "No record ..." is about the row."""
    low = text.lower()
    if status in (404, 405) and "no profile" not in low and "no record" not in low:
        return (
            f"Actito answered {status} for the entity or table itself; check options.entity, "
            "the table's name and the connection's base_url"
        )
    return None


@dataclass(frozen=True)
class _Table:
    """A profile or custom table of the connection's entity, and its unique attribute."""

    endpoint: str
    kind: str  # "profiles" or "custom"
    unique: str
    base: str  # /v4/entity/{e}/table/{t} or /v4/entity/{e}/customTable/{t}

    @property
    def listed(self) -> str:
        return "attributes" if self.kind == "profiles" else "properties"

    @property
    def id_field(self) -> str:
        return "profileId" if self.kind == "profiles" else "businessKey"

    def as_actito(self, row: dict[str, Any]) -> dict[str, Any]:
        """A payload in Actito's own shape: {attributes|properties: [{name, value}], ...}."""
        if self.listed in row:
            return row
        body: dict[str, Any] = {
            self.listed: [{"name": k, "value": v} for k, v in row.items() if k != "subscriptions"]
        }
        if "subscriptions" in row:
            body["subscriptions"] = row["subscriptions"]
        return body

    def key(self, row: dict[str, Any]) -> str:
        """The unique attribute's value a payload gives ("" when none)."""
        value = _named(self.as_actito(row)[self.listed], self.unique)
        return "" if value is None else str(value)

    def invalid(self, row: Any) -> str | None:
        if not isinstance(row, dict):
            return "the payload is not a JSON object"
        if not self.key(row):
            return f"the payload has no value for the unique attribute {self.unique!r}"
        return None

    def lookup(self, keys: Sequence[str]) -> Request:
        """One record by its unique value (the v4 lookups, [A14])."""
        ref = quote(keys[0], safe="")
        if self.kind == "profiles":
            return Request(f"{self.base}/profile/{quote(self.unique, safe='')}={ref}")
        return Request(f"{self.base}/record/{ref}")

    def identify(self, record: dict[str, Any]) -> tuple[str | None, str | None]:
        value = _named(record.get(self.listed), self.unique)
        vendor_id = record.get(self.id_field)
        return (
            None if value is None else str(value),
            None if vendor_id is None else str(vendor_id),
        )

    def spec(self, operation: str, **fields: Any) -> PushSpec:
        """A one-record-per-call spec of this table; `fields` set the rest."""
        defaults: dict[str, Any] = {
            "key": self.key,
            "invalid": self.invalid,
            "lookup": self.lookup,
            "identify": self.identify,
            "found": lambda body: [body] if isinstance(body, dict) else [],
        }
        return push_spec(
            endpoint=self.endpoint,
            operation=operation,
            max_chunk=1,
            stream=self.endpoint,
            fan_out=4,
            lookup_batch=1,
            whole_request=_whole_request,
            **(defaults | fields),
        )


def _table(endpoint: str, options: Mapping[str, str]) -> _Table:
    kind, _, table = endpoint.partition(":")
    entity = quote(options.get("entity", ""), safe="")
    if not entity:
        raise errors.MissingOption(f"pushing to Actito {endpoint!r} needs options.entity")
    unique = options.get(f"unique:{table}")
    if not unique:
        raise errors.MissingOption(
            f'pushing to Actito {endpoint!r} needs options "unique:{table}" = <attribute>'
        )
    family = "table" if kind == "profiles" else "customTable"
    return _Table(endpoint, kind, unique, f"/v4/entity/{entity}/{family}/{quote(table, safe='')}")


def _upsert(t: _Table, operation: str) -> PushSpec:
    """Create-or-update: profiles with `allowUpdate=true` (matched on the table's unique
    attributes), custom records by their primary key; the record is read back for its id."""

    def request(rows: list[dict[str, Any]]) -> Request:
        if t.kind == "profiles":
            query = {"allowUpdate": "true"}
            return Request(f"{t.base}/profile", query, method="POST", json=t.as_actito(rows[0]))
        return Request(f"{t.base}/record", method="POST", json=t.as_actito(rows[0]))

    def acknowledged(body: Any, sent: int) -> bool:
        return isinstance(body, dict) and body.get(t.id_field) not in (None, "")

    return t.spec(operation, request=request, acknowledged=acknowledged)


def _update(t: _Table, operation: str) -> PushSpec:
    """PUT a custom record by its businessKey: the properties sent replace the record's
    (a full update, [A15]; the sandbox keeps the creation time). An unknown key is a 404 and
    the row is rejected: an update never creates. Then the record is read back; it must hold
    every value sent."""

    def request(rows: list[dict[str, Any]]) -> Request:
        path = f"{t.base}/record/{quote(t.key(rows[0]), safe='')}"
        return Request(path, method="PUT", json=t.as_actito(rows[0]))

    def holds(row: dict[str, Any], record: dict[str, Any]) -> bool:
        sent = t.as_actito(row)[t.listed]
        held = record.get(t.listed)
        return all(
            isinstance(p, dict) and _named(held, str(p.get("name"))) == p.get("value") for p in sent
        )

    # a 2xx (Actito answers 204 to a PUT, [A5]) with no body to check
    return t.spec(operation, request=request, acknowledged=lambda body, sent: True, holds=holds)


def _delete_record(t: _Table, operation: str) -> PushSpec:
    """DELETE a custom record by its businessKey (`{<primary key>: value}`); a 404 `No
    record ...` means already gone."""

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(f"{t.base}/record/{quote(t.key(rows[0]), safe='')}", method="DELETE")

    return t.spec(
        operation,
        request=request,
        acknowledged=lambda body, sent: True,
        lookup=None,
        done_statuses=frozenset({404}),
        deletes=True,
        mirror_key=(("businessKey",),),
    )


def _profile_id(row: dict[str, Any]) -> str | None:
    value = row.get("profileId")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    return str(value)


def _delete_profile(t: _Table, operation: str) -> PushSpec:
    """DELETE a profile by its profileId ([A14][A15]: the documented path); a 404 `No profile
    ...` means already gone. Actito may cascade the delete to linked custom records
    (vendors.md §3.7). A row that also gives the unique attribute's value shares the key of
    that value's upserts, so the two are sent in outbox order."""

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict) or _profile_id(row) is None:
            return "a profile delete names the profile by profileId (an integer)"
        return None

    def names(row: dict[str, Any]) -> list[Name]:
        own: list[Name] = [(("profileId",), str(_profile_id(row)))]
        if row.get(t.unique) not in (None, ""):
            own.append(((), str(row[t.unique])))  # the name its upserts give the profile
        return own

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(f"{t.base}/profile/{_profile_id(rows[0])}", method="DELETE")

    return t.spec(
        operation,
        request=request,
        invalid=invalid,
        key=lambda row: str(_profile_id(row)),
        acknowledged=lambda body, sent: True,
        lookup=None,
        done_statuses=frozenset({404}),
        deletes=True,
        mirror_key=(("profileId",),),
        names=names,
    )


_BUILDERS: dict[tuple[str, str], Callable[[_Table, str], PushSpec]] = {
    ("profiles", "upsert"): _upsert,
    ("custom", "upsert"): _upsert,
    ("custom", "update"): _update,
    ("profiles", "delete"): _delete_profile,
    ("custom", "delete"): _delete_record,
}


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """The push spec for an outbox row's endpoint and operation."""
    kind, _, table = endpoint.partition(":")
    builder = _BUILDERS.get((kind, operation))
    if builder is None or not table:
        raise errors.ConfigError(
            f"Actito cannot push {operation!r} to {endpoint!r}; use profiles:<table> with "
            "upsert or delete, or custom:<table> with upsert, update or delete"
        )
    return builder(_table(endpoint, options), operation)
