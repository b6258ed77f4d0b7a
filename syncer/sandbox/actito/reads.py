"""The Actito API routes the sandbox serves, written from vendors.md §3 and the seed 002.

Both path families are served where the docs show both (`/entities/v5/...` and `/v5/...`,
`/custom-data/v4/...` and `/v4/...`). Routes sit at the app root and read only `match_info`, so the
app works as well when mounted under a prefix. Auth, limits and error bodies are the middleware's
job (`middleware.py`); handlers raise `ApiError`. The write routes are in `writes.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

import orjson
from aiohttp import web

from syncer.sandbox.actito.cursor import CursorError
from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.records import Record
from syncer.sandbox.actito.state import ACTITO_KEY, ActitoSandbox
from syncer.sandbox.actito.structure import TableInfo
from syncer.sandbox.actito.tables import Table
from syncer.sandbox.common.wire import json_response

K = TypeVar("K", int, str)
_DIGITS = re.compile(r"\d+")
_JSON_MEDIA = frozenset({"application/json", "application/*", "*/*"})


def check_accept(request: web.Request) -> None:
    """406 unless `Accept` is absent or admits JSON (parameters such as q= are ignored)."""
    accept = request.headers.get("Accept", "").strip()
    if not accept:
        return
    for media in accept.split(","):
        if media.split(";", 1)[0].strip().lower() in _JSON_MEDIA:
            return
    raise ApiError(406, f"Cannot produce {accept}: only application/json is available")


async def issue_token(request: web.Request) -> web.Response:
    """`GET /auth/token` with the raw API key in `Authorization` (no scheme)."""
    sb = request.app[ACTITO_KEY]
    key = request.headers.get("Authorization", "").strip()
    if not key or key not in sb.config.api_keys:
        raise ApiError(401, "Bad credentials: unknown or revoked API key")
    check_accept(request)
    body = sb.tokens.issue(key, sb.config.token_ttl_seconds, sb.clock())
    sb.token_issued()
    return json_response(body)


async def entities(request: web.Request) -> web.Response:
    return json_response({"entities": request.app[ACTITO_KEY].entities})


async def profiles(request: web.Request) -> web.Response:
    """The v5 profile list: keyset pages in profileId order (vendors.md §3.3, our proposal)."""
    sb = request.app[ACTITO_KEY]
    table = profile_data(sb, request)
    return _keyset_page(sb, table, request.query, "profiles")


async def custom_records(request: web.Request) -> web.Response:
    """The custom-record list, same contract as profiles, in businessKey order (our choice)."""
    sb = request.app[ACTITO_KEY]
    table = custom_data(sb, request)
    return _keyset_page(sb, table, request.query, "records")


async def profile_lookup(request: web.Request) -> web.Response:
    """v4 `.../profile/{profileId}` or `.../profile/{attribute}={value}` (a unique attribute)."""
    sb = request.app[ACTITO_KEY]
    table = profile_data(sb, request)
    return json_response(find_profile(table, request.match_info["ref"]))


def find_profile(table: Table[int], ref: str) -> Record:
    """The profile `ref` names: `{profileId}` or `{attribute}={value}` of a unique attribute.

    400 for a non-integer id or a non-unique attribute, 404 when no profile matches.
    """
    attribute, equals, value = ref.partition("=")
    if not equals:
        attribute, value = "profileId", ref
    row: Record | None
    if attribute == "profileId":
        if not _DIGITS.fullmatch(value):
            raise ApiError(400, f"profileId must be an integer, not {value!r}")
        row = table.get(int(value))
    elif table.is_unique(attribute):
        row = table.find_unique(attribute, value)
    else:
        raise ApiError(400, f"{attribute!r} is not a unique attribute of table {table.name!r}")
    if row is None:
        raise ApiError(404, f"No profile with {attribute} = {value!r} in table {table.name!r}")
    return row


async def record_search(request: web.Request) -> web.Response:
    """v4 `.../record?searchField=&searchValue=` → `{"records": [...]}`; 404 when none match."""
    sb = request.app[ACTITO_KEY]
    table = custom_data(sb, request)
    field = request.query.get("searchField", "")
    value = request.query.get("searchValue")
    if not field or value is None:
        raise ApiError(400, "searchField and searchValue are required")
    info = known_table(sb, "custom", table.name)
    if field not in {a["name"] for a in info.definition["attributes"]}:
        raise ApiError(400, f"{field!r} is not an attribute of table {table.name!r}")
    found = table.search(field, value)
    if not found:
        raise ApiError(404, f"No record with {field} = {value!r} in table {table.name!r}")
    return json_response({"records": found})


async def record_get(request: web.Request) -> web.Response:
    """v4 `.../record/{businessKey}`."""
    sb = request.app[ACTITO_KEY]
    table = custom_data(sb, request)
    key = request.match_info["key"]
    row = table.get(key)
    if row is None:
        raise ApiError(404, f"No record {key!r} in table {table.name!r}")
    return json_response(row)


async def profile_structures(request: web.Request) -> web.Response:
    return _structures(request, "profiles", "profileTables")


async def custom_structures(request: web.Request) -> web.Response:
    return _structures(request, "custom", "customTables")


async def profile_structure(request: web.Request) -> web.Response:
    return _structure(request, "profiles")


async def custom_structure(request: web.Request) -> web.Response:
    return _structure(request, "custom")


def _structures(request: web.Request, kind: str, wrapper: str) -> web.Response:
    """Every table definition of `kind`, as `{wrapper: [...]}` (the wrapper name is our choice)."""
    sb = request.app[ACTITO_KEY]
    _entity(sb, request)
    return json_response({wrapper: [t.definition for t in sb.tables if t.kind == kind]})


def _structure(request: web.Request, kind: str) -> web.Response:
    sb = request.app[ACTITO_KEY]
    _entity(sb, request)
    return json_response(known_table(sb, kind, request.match_info["table"]).definition)


def _entity(sb: ActitoSandbox, request: web.Request) -> None:
    entity = request.match_info["entity"]
    if entity != sb.config.entity:
        raise ApiError(404, f"Entity {entity!r} not found")


def known_table(sb: ActitoSandbox, kind: str, ref: str) -> TableInfo:
    """The table of `kind` called `ref` (name or id); 404 if there is none."""
    info = sb.table_info(kind, ref)
    if info is None:
        what = "Profile" if kind == "profiles" else "Custom"
        raise ApiError(404, f"{what} table {ref!r} not found in entity {sb.config.entity!r}")
    return info


def profile_data(sb: ActitoSandbox, request: web.Request) -> Table[int]:
    """The live profile table a data route names (404 unknown, 403 forbidden)."""
    _check_data_table(sb, request, "profiles")
    return sb.data.profiles


def custom_data(sb: ActitoSandbox, request: web.Request) -> Table[str]:
    """The live custom table a data route names (404 unknown, 403 forbidden)."""
    _check_data_table(sb, request, "custom")
    return sb.data.custom


def _check_data_table(sb: ActitoSandbox, request: web.Request, kind: str) -> None:
    """404 if the entity or table a data route names is unknown, 403 if the key has no right."""
    _entity(sb, request)
    ref = request.match_info["table"]
    forbidden = sb.config.forbidden_tables
    info = sb.table_info(kind, ref)
    if ref in forbidden or (info and (info.name in forbidden or info.id in forbidden)):
        raise ApiError(403, f"The API key has no right on table {ref!r}")
    known_table(sb, kind, ref)


def _keyset_page(
    sb: ActitoSandbox, table: Table[K], query: Mapping[str, str], wrapper: str
) -> web.Response:
    """One page after `searchAfter`; a full page carries the next cursor, a short one null.

    Churn knobs then change the table, as other users of a live table would.
    """
    limit = _limit(sb, query.get("limit"))
    stream = f"{table.kind}:{table.name}"
    after: K | None = None
    text = query.get("searchAfter", "")
    if text:
        try:
            after = sb.cursors.decode(text, stream, table.key_type)
        except CursorError as exc:
            raise ApiError(400, f"Invalid searchAfter: {exc}") from exc
    rows = table.page(after, limit)
    cursor = None
    if len(rows) == limit:
        last = rows[-1]["profileId" if table.kind == "profiles" else "businessKey"]
        cursor = sb.cursors.encode(stream, last)
    body = orjson.dumps({wrapper: rows, "searchAfter": cursor})
    inserts, deletes = sb.config.churn_inserts_per_page, sb.config.churn_deletes_per_page
    if rows and (inserts or deletes):
        sb.data.churn(table, inserts, deletes, cascade=sb.config.cascade_deletes)
    return web.Response(body=body, content_type="application/json")


def _limit(sb: ActitoSandbox, text: str | None) -> int:
    """`limit`: default `default_limit` (capped at the max), else an integer 1..list_max_limit."""
    most = sb.config.list_max_limit
    if text is None or not text.strip():
        return min(sb.config.default_limit, most)
    if not _DIGITS.fullmatch(text.strip()) or not 1 <= int(text) <= most:
        raise ApiError(400, f"limit must be an integer between 1 and {most}, not {text!r}")
    return int(text)


def add_routes(app: web.Application) -> None:
    """Register the Actito routes on `app`, at its root."""
    get = app.router.add_get
    get("/auth/token", issue_token)
    get("/entities/v5/entities", entities)
    get("/v5/entities", entities)
    get("/v5/entities/{entity}/profile-tables/{table}/profiles", profiles)
    get("/v5/entities/{entity}/custom-tables/{table}/records", custom_records)
    get("/v4/entity/{entity}/table/{table}/profile/{ref}", profile_lookup)
    for prefix in ("", "/custom-data"):
        get(prefix + "/v4/entity/{entity}/customTable/{table}/record", record_search)
        get(prefix + "/v4/entity/{entity}/customTable/{table}/record/{key}", record_get)
    for prefix in ("/profile-table-structure", ""):
        get(prefix + "/v5/entities/{entity}/profile-tables", profile_structures)
        get(prefix + "/v5/entities/{entity}/profile-tables/{table}", profile_structure)
    for prefix in ("/custom-table-structure", ""):
        get(prefix + "/v5/entities/{entity}/custom-tables", custom_structures)
        get(prefix + "/v5/entities/{entity}/custom-tables/{table}", custom_structure)
