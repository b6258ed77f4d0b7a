"""The Exto Data API routes, written from Exto's documents (vendors.md §2, the seeds, the OpenAPI):
the reads here, the writes in `exto_writes` (registered by `add_routes` too).

Every route lives under `/data` (Exto's base URL is `<host>/data`). The middleware applies what all
data routes share, in this order: bearer auth (401), the 429 storm, the per-token rate limit
(429), the fault mix (`exto_faults`), the latency knob, then the handler; errors of any kind leave
as Exto's JSON error body.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox import filters
from syncer.sandbox.collection import Collection, Predicate, Selection
from syncer.sandbox.config import DEFAULT_API_USER
from syncer.sandbox.exto_faults import FAULT_STATUSES, StormAnswer, fault_response
from syncer.sandbox.exto_lies import PagingLies
from syncer.sandbox.state import SANDBOX_KEY, RequestLogEntry, Sandbox
from syncer.sandbox.wire import bearer_token, json_response

PREFIX = "/data"
API = PREFIX + "/api/v1"
HEALTH = API + "/health/"
MAX_PAGE_SIZE = 1000
_INTEGER = re.compile(r"[+-]?\d+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: set on a request whose answer is computed only to be mangled by a "truncated" fault: the
#: read must change nothing (no churn)
DRY_READ = web.RequestKey("exto_dry_read", bool)


class ApiError(Exception):
    """An Exto error answer: status, summary and detail lines of the JSON error body."""

    def __init__(self, status: int, summary: str, *detail: str) -> None:
        super().__init__(summary, *detail)
        self.status = status
        self.summary = summary
        self.detail = list(detail)
        self.headers: dict[str, str] = {}


def error_response(request: web.Request, error: ApiError) -> web.Response:
    """Exto's error body `{code, timestamp, path, error: {summary, detail}}`."""
    now = datetime.now(UTC)
    body = {
        "code": error.status,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "path": request.path.removeprefix(PREFIX),
        "error": {"summary": error.summary, "detail": error.detail},
    }
    return json_response(body, status=error.status, headers=error.headers)


@web.middleware
async def exto_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, storm, rate limit, faults, latency, error bodies and the request log for everything
    under /data."""
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    sb = request.app[SANDBOX_KEY]
    at = sb.clock()
    health = request.path.startswith(HEALTH)
    token = None if health else bearer_token(request)
    outcome = Outcome()
    if health:
        response = await _answer(request, handler)
    else:
        try:
            response = await _data_request(request, handler, sb, token, at, outcome)
        except asyncio.CancelledError:
            # the client hung up during a "timeout" stall and aiohttp cancelled the handler (as
            # aiohttp's TestServer does; `serve` lets it run): logged as no answer
            if outcome.fault is not None:
                sb.log(_entry(request, at, token, 0, outcome.fault))
            raise
    sb.log(_entry(request, at, token, response.status if outcome.delivered else 0, outcome.fault))
    return response


def _entry(
    request: web.Request, at: float, token: str | None, status: int, fault: str | None
) -> RequestLogEntry:
    return RequestLogEntry(
        at, request.method, request.path, dict(request.query), token, status, fault
    )


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer, errors of any kind turned into Exto's error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(request, exc)
    except web.HTTPException as exc:  # no such route (404) or method (405)
        summary = exc.reason or "Error"
        detail = f"Cannot {request.method} {request.path.removeprefix(PREFIX)}"
        return error_response(request, ApiError(exc.status, summary, detail))
    except Exception as exc:
        return error_response(request, ApiError(500, "Service Exception", repr(exc)))


@dataclass
class Outcome:
    """What the request log needs to know of a data request besides its answer: the fault
    injected ("storm" for a storm 429) and whether an answer was sent (False: logged as 0)."""

    fault: str | None = None
    delivered: bool = True


@dataclass(frozen=True)
class Verdict:
    """What happens to one data request, decided on arrival: a refusal (401, 429), a storm 429
    (`refusal` and `storm` set), a fault kind, or nothing (the handler answers)."""

    refusal: ApiError | None = None
    storm: StormAnswer | None = None
    fault: str | None = None


async def _data_request(
    request: web.Request,
    handler: Handler,
    sb: Sandbox,
    token: str | None,
    at: float,
    outcome: Outcome,
) -> web.StreamResponse:
    """The answer to a non-health request under /data; `outcome` learns the fault injected and
    whether an answer reaches the client."""
    if token is not None:
        sb.faults.arrived(token, at)
    verdict = _verdict(sb, token, at)
    outcome.fault = "storm" if verdict.storm is not None else verdict.fault
    if sb.config.latency_ms > 0:
        await asyncio.sleep(sb.config.latency_ms / 1000)
    if verdict.refusal is not None:
        return _refuse(request, sb, token, verdict)
    fault = verdict.fault
    if fault is None:
        return await _answer(request, handler)
    if fault in FAULT_STATUSES:
        error = ApiError(int(fault), FAULT_STATUSES[fault], _FAULT_DETAIL[fault])
        return error_response(request, error)
    if fault == "reset":
        # no answer at all: aiohttp's attempt to write the returned response to the aborted
        # transport fails quietly (a ConnectionError it ignores), so nothing reaches the client
        if request.transport is not None:
            request.transport.abort()
        outcome.delivered = False
        return web.Response(status=500)
    if fault == "timeout":
        await asyncio.sleep(sb.config.fault_timeout_ms / 1000)
        if request.transport is None or request.transport.is_closing():
            # the client gave up: nothing is answered, nothing is read or written
            outcome.delivered = False
            return web.Response(status=500)
        return await _answer(request, handler)
    normal = None
    if fault == "truncated" and request.method == "GET":
        request[DRY_READ] = True
        answer = await _answer(request, handler)
        normal = answer if isinstance(answer, web.Response) else None
    return fault_response(fault, normal)


def _verdict(sb: Sandbox, token: str | None, at: float) -> Verdict:
    """Decide, in this order: 401 for a missing, unknown or revoked token; a storm 429; 429 when
    the token's window is full; an HTML page while `html_next` counts down; a fault of the mix.
    A request that passes them all counts `revoke_after` down."""
    config = sb.config
    if token is None or token not in config.tokens or token in config.revoked_tokens:
        return Verdict(ApiError(401, "Unauthorized", "Invalid authentication token."))
    storm = sb.faults.storm(config)
    if storm is not None:
        return Verdict(ApiError(429, "TOO MANY REQUESTS", "Rate limit exceeded."), storm)
    limit = config.rate_limit
    if not sb.limiter.admit(token, config.limit_rule(), now=at):
        error = ApiError(429, "TOO MANY REQUESTS", f"Rate limit exceeded: {limit} per second.")
        if config.retry_after:
            error.headers["Retry-After"] = "1"
        return Verdict(error)
    if config.html_next > 0:  # a maintenance page that persists (docs/sandbox.md)
        config.html_next -= 1
        return Verdict(fault="html")
    fault = sb.faults.fault(config)
    if fault is None and config.revoke_after > 0:
        config.revoke_after -= 1
        if config.revoke_after == 0:
            config.revoked_tokens = (*config.revoked_tokens, *config.tokens)
    return Verdict(fault=fault)


def _refuse(request: web.Request, sb: Sandbox, token: str | None, verdict: Verdict) -> web.Response:
    """The refusal's error body; a Retry-After it carries is noted against the token (on the
    sandbox clock, as the answer leaves)."""
    error = verdict.refusal
    assert error is not None
    if token is not None:
        sent = sb.clock()
        if verdict.storm is not None:
            value, delay = verdict.storm.header(sb.faults.wall())
            if value is not None:
                error.headers["Retry-After"] = value
            sb.faults.retry_after_sent(token, sent, delay)
        elif "Retry-After" in error.headers:
            sb.faults.retry_after_sent(token, sent, float(error.headers["Retry-After"]))
    return error_response(request, error)


_FAULT_DETAIL = {
    "500": "Internal server error.",
    "502": "The upstream service did not answer.",
    "503": "The service is temporarily unavailable.",
}


@dataclass(frozen=True)
class Paging:
    """Validated `page` / `pageSize`."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def envelope(self, rows: list[Any], total: int) -> dict[str, Any]:
        """Exto's list envelope `{rows, total, page, pageSize, totalPages}`."""
        return {"rows": rows} | self.counts(total)

    def counts(self, total: int) -> dict[str, int]:
        return {
            "total": total,
            "page": self.page,
            "pageSize": self.size,
            "totalPages": math.ceil(total / self.size),
        }


def paging(query: Mapping[str, str], default_size: int) -> Paging:
    """Read and check `page` (>= 1) and `pageSize` (1..1000) with Exto's error messages."""
    page = _integer(query.get("page"), 1)
    if page is None or page < 1:
        raise ApiError(400, "Bad Request", "Page must be greater than 0")
    size = _integer(query.get("pageSize"), default_size)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, "Bad Request", "Page size must be between 1 and 1000")
    return Paging(page, size)


def _integer(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    return int(text) if _INTEGER.fullmatch(text.strip()) else None


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
    if kind == "module" and request.app[SANDBOX_KEY].config.hide_unowned_modules:
        owner = token_user(request)
        tests.append(lambda record: visible_to(record, owner))
    if not tests:
        return None, ()
    key = (text, time_zone, project, status, owner)
    if len(tests) == 1:
        return tests[0], key
    return (lambda record: all(t(record) for t in tests)), key


def token_user(request: web.Request) -> str:
    """The user the request's token acts as (`config.token_users`, else DEFAULT_API_USER)."""
    users = request.app[SANDBOX_KEY].config.token_users
    return users.get(bearer_token(request) or "", DEFAULT_API_USER)


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
    sb = request.app[SANDBOX_KEY]
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
    sb: Sandbox, coll: Collection, selection: Selection, pages: Paging, *, churn: bool = True
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
    sb = request.app[SANDBOX_KEY]
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
    sb = request.app[SANDBOX_KEY]
    username = request.query.get("username", "").strip().lower()
    if not username:
        raise ApiError(400, "Bad Request", "username is required")
    for entry in sb.data.users:
        if entry["user"]["userName"] == username:
            return json_response(entry)
    raise ApiError(404, "Not Found", f"User {username} not found.")


async def groups(request: web.Request) -> web.Response:
    """Projects paged, tenant groups on page 1 only (our assumption; the seed shows one object)."""
    sb = request.app[SANDBOX_KEY]
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
    """Register the Exto routes on `app`: the reads here, the writes of `exto_writes`."""
    # imported here: the write modules import this one (ApiError, paging)
    from syncer.sandbox import exto_writes

    app.router.add_get(API + "/health/readiness", readiness)
    app.router.add_get(API + "/health/liveness", liveness)
    app.router.add_get(API + "/master-record/{masterName}", master_records)
    app.router.add_get(API + "/module-record/{moduleName}", module_records)
    app.router.add_get(API + "/user/user-access", user_access)
    app.router.add_get(API + "/user/user-access/by-user", user_access_by_user)
    app.router.add_get(API + "/user/groups", groups)
    exto_writes.add_routes(app)
