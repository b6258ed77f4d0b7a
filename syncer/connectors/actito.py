"""Actito: streams as data (vendors.md §3; choices in docs/vendors/actito.md).

Stream names: `entities`, `profiles:<table>`, `custom:<table>`; the entity comes from the
connection's `options.entity`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from syncer import errors
from syncer.auth import Auth, TokenExchange, parse_lifetime
from syncer.models import (
    Connector,
    ListField,
    PageBody,
    PushSpec,
    Request,
    StreamSpec,
    ViewSpec,
)

#: v5 keyset paging as proposed in vendors.md §3.3 [A]; a page of 100 until a maximum is known
PAGE_SIZE = 100


def _keyset(path: str) -> Callable[[Mapping[str, str], Any, int], Request]:
    """`GET path?limit=N[&searchAfter=<cursor>]`."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        query = {**params, "limit": str(size)}
        if position is not None:
            query["searchAfter"] = str(position)
        return Request(path, query)

    return page


def _listed(items_key: str) -> Callable[[Any], PageBody]:
    """`{<items_key>: [...], "searchAfter": <cursor> | null}`."""

    def extract(body: Any) -> PageBody:
        if not isinstance(body, dict) or not isinstance(body.get(items_key), list):
            raise errors.FatalVendorError(f"Actito answered without a {items_key!r} list")
        items = body[items_key]
        return PageBody(items, len(items), None, next_cursor=body.get("searchAfter") or None)

    return extract


def _entities(body: Any) -> PageBody:
    items = body.get("entities") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise errors.FatalVendorError("Actito answered without an 'entities' list")
    return PageBody(items, len(items), 1)


def _single(path: str) -> Callable[[Mapping[str, str], Any, int], Request]:
    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        return Request(path, dict(params))

    return page


def _field(name: str) -> Callable[[Any], str | None]:
    def key(record: Any) -> str | None:
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            return None
        return str(value)

    return key


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    entity = quote((options or {}).get("entity", ""), safe="")
    kind, _, table = name.partition(":")
    if name == "entities":
        # one request returns every entity: a "cursor" stream whose first page has no next
        return StreamSpec(
            name=name,
            key=_field("id"),
            extract=_entities,
            page=_single("/entities/v5/entities"),
            paging="cursor",
        )
    if not entity:
        raise errors.ConfigError(f"Actito stream {name!r} needs options.entity in the connection")
    table = quote(table, safe="")
    if kind == "profiles" and table:
        return StreamSpec(
            name=name,
            key=_field("profileId"),
            extract=_listed("profiles"),
            page=_keyset(f"/v5/entities/{entity}/profile-tables/{table}/profiles"),
            paging="cursor",
            default_page_size=PAGE_SIZE,
            view=ViewSpec(
                lists=(ListField("attributes"), ListField("subscriptions", value_key="subscribe"))
            ),
        )
    if kind == "custom" and table:
        return StreamSpec(
            name=name,
            key=_field("businessKey"),
            extract=_listed("records"),
            page=_keyset(f"/v5/entities/{entity}/custom-tables/{table}/records"),
            paging="cursor",
            default_page_size=PAGE_SIZE,
            view=ViewSpec(lists=(ListField("properties"),)),
        )
    raise errors.ConfigError(
        f"unknown Actito stream {name!r}; use entities, profiles:<table> or custom:<table>"
    )


def _error_summary(body: Any) -> str:
    """`{status, error, message}` (vendors.md §3.6 [A]) -> "error: message"."""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        return ": ".join(parts)
    return ""


def _auth(base_url: str, key: str, fetch: Callable[..., Any]) -> Auth:
    """The API key buys a 15-minute bearer token at GET /auth/token (vendors.md §3.2)."""

    async def token() -> tuple[str, float]:
        body = await fetch(
            Request("/auth/token"), {"Authorization": key, "Accept": "application/json"}
        )
        # the answer is never quoted in an error: it holds the token (a secret, like the key)
        try:
            access, lifetime = body["accessToken"], parse_lifetime(body["expiresIn"])
        except (KeyError, TypeError, ValueError):
            raise errors.AuthError("Actito's token answer has no accessToken/expiresIn") from None
        if not isinstance(access, str) or not access.strip():
            raise errors.AuthError("Actito's token answer has an empty or non-text accessToken")
        return access, lifetime

    return TokenExchange(token)


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


def push(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Actito create-or-update, one record per call (vendors.md §3.4): profiles with
    `allowUpdate=true`, custom records keyed by their primary key attribute. Payloads are flat
    objects ({attribute: value}) or Actito's own {attributes|properties: [{name, value}]}."""
    entity = quote(options.get("entity", ""), safe="")
    kind, _, table = endpoint.partition(":")
    if kind not in ("profiles", "custom") or not table or operation != "upsert":
        raise errors.ConfigError(
            f"Actito cannot push {operation!r} to {endpoint!r}; use profiles:<table> or "
            "custom:<table> with operation 'upsert'"
        )
    if not entity:
        raise errors.MissingOption(f"pushing to Actito {endpoint!r} needs options.entity")
    unique = options.get(f"unique:{table}")
    if not unique:
        raise errors.MissingOption(
            f'pushing to Actito {endpoint!r} needs options "unique:{table}" = <attribute>'
        )
    listed = "attributes" if kind == "profiles" else "properties"
    family = "table" if kind == "profiles" else "customTable"
    base = f"/v4/entity/{entity}/{family}/{quote(table, safe='')}"

    def as_actito(row: dict[str, Any]) -> dict[str, Any]:
        if listed in row:
            return row
        body: dict[str, Any] = {
            listed: [{"name": k, "value": v} for k, v in row.items() if k != "subscriptions"]
        }
        if "subscriptions" in row:
            body["subscriptions"] = row["subscriptions"]
        return body

    def key(row: dict[str, Any]) -> str:
        value = _named(as_actito(row)[listed], unique)
        return "" if value is None else str(value)

    def invalid(row: Any) -> str | None:
        if not isinstance(row, dict):
            return "the payload is not a JSON object"
        if not key(row):
            return f"the payload has no value for the unique attribute {unique!r}"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        if kind == "profiles":
            return Request(
                f"{base}/profile", {"allowUpdate": "true"}, method="POST", json=as_actito(rows[0])
            )
        return Request(f"{base}/record", method="POST", json=as_actito(rows[0]))

    def acknowledged(body: Any, sent: int) -> bool:
        field = "profileId" if kind == "profiles" else "businessKey"
        return isinstance(body, dict) and body.get(field) not in (None, "")

    def lookup(keys: Sequence[str]) -> Request:
        ref = quote(keys[0], safe="")
        if kind == "profiles":
            return Request(f"{base}/profile/{quote(unique, safe='')}={ref}")
        return Request(f"{base}/record/{ref}")

    def identify(record: dict[str, Any]) -> tuple[str | None, str | None]:
        value = _named(record.get(listed), unique)
        vendor_id = record.get("profileId" if kind == "profiles" else "businessKey")
        return (
            None if value is None else str(value),
            None if vendor_id is None else str(vendor_id),
        )

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=1,
        request=request,
        invalid=invalid,
        key=key,
        acknowledged=acknowledged,
        lookup=lookup,
        identify=identify,
        stream=endpoint,
        fan_out=4,
        lookup_batch=1,
        found=lambda body: [body] if isinstance(body, dict) else [],
        whole_request=_whole_request,
    )


connector = Connector(
    vendor="actito",
    auth=_auth,
    stream=stream,
    error_summary=_error_summary,
    auth_failures=frozenset({401, 403}),
    push=push,
)
