"""Actito: streams as data (vendors.md §3; choices in docs/vendors/actito.md).

Stream names: `entities`, `profiles:<table>`, `custom:<table>`; the entity comes from the
connection's `options.entity`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from syncer import errors
from syncer.auth import Auth, TokenExchange, parse_lifetime
from syncer.connectors import zones
from syncer.connectors.actito_push import push
from syncer.models import (
    Connector,
    ListField,
    PageBody,
    Paging,
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
    zone = zones.time_zone(options, "Actito")
    kind, _, table = name.partition(":")
    if name == "entities":
        # one request returns every entity: a "cursor" stream whose first page has no next
        return StreamSpec(
            name=name,
            key=_field("id"),
            extract=_entities,
            page=_single("/entities/v5/entities"),
            paging=Paging.CURSOR,
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
            paging=Paging.CURSOR,
            default_page_size=PAGE_SIZE,
            view=ViewSpec(
                lists=(ListField("attributes"), ListField("subscriptions", value_key="subscribe")),
                time_zone=zone,
                updated=("attributes", "updateMoment"),
            ),
        )
    if kind == "custom" and table:
        return StreamSpec(
            name=name,
            key=_field("businessKey"),
            extract=_listed("records"),
            page=_keyset(f"/v5/entities/{entity}/custom-tables/{table}/records"),
            paging=Paging.CURSOR,
            default_page_size=PAGE_SIZE,
            view=ViewSpec(
                lists=(ListField("properties"),),
                time_zone=zone,
                updated=("properties", "updateMoment"),
            ),
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


connector = Connector(
    vendor="actito",
    auth=_auth,
    stream=stream,
    error_summary=_error_summary,
    auth_failures=frozenset({401, 403}),
    push=push,
)
