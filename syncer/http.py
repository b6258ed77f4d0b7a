"""One client per connection: aiohttp session, the credential's pacing gate, retries, and the
single place where HTTP outcomes become syncer errors.

Pacing (`syncer.pacing`): one request every `period / (rate * headroom)` seconds, counted from
the moment each request's headers leave, so sliding-window, fixed-window and token-bucket vendors
all accept the same stream of requests; requests stay in flight concurrently, so latency does
not leave the budget idle. Measured in `make bench` (BENCHMARKS.md, 2026-12-06): at 20
requests/s with 100 ms latency, 0.969 of the limit (the most is 0.97, the headroom) with no 429
from a sliding window or fixed windows, and 0.943-0.968 from a token bucket without burst (none
or one 429 in 200 requests: the sandbox's own clock jitters by more than the headroom's 1.5 ms);
where the vendor really allows 75% of the configured rate, 0.86-0.88 of that with 1-2% of
requests answered 429. aiolimiter's `AsyncLimiter` of capacity 1, measured in the same runs in
this gate's place, read 0.887-0.955: it spaces requests as evenly, but counts them when they are
admitted, not when they leave, so a request held up on its way out (a busy event loop, a
connection to open) costs the budget that time, and may reach the vendor right behind the next
one (43.4 ms apart at a 50 ms limit, in the bench).

A 429 pauses the whole credential (every stream sharing it) for Retry-After, or for a backoff
that doubles with each 429 in a row; the first 429 after a success also lowers the paced rate,
and calm stretches raise it back (`pacing.CredentialGate`). A 429 never counts against a
request's retries (`max_attempts`, `retry_timeout`): the request waits at the gate and goes
again, until no request of the credential has succeeded for `rate_limit_deadline` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace, TracebackType
from typing import Any, TypeVar, overload

import aiohttp
import stamina
import structlog

from syncer import answers, bodies, errors, metrics
from syncer.budget import BudgetStore, SharedBudget, credential_id
from syncer.models import Connector, Request, StreamStats
from syncer.pacing import MAX_PAUSE, CredentialGate, RetryBudget, Ticket
from syncer.settings import ConnectionConfig

log = structlog.get_logger(__name__)

T = TypeVar("T")
#: a run warning of a stream whose credential was paced down (replaced as the rate moves on)
RATE_WARNING = "paced down to"


#: one gate per (event loop, vendor, base URL, credential): every client of a credential in
#: this process, pulls and pushes alike, paces through the same window
_GATES: weakref.WeakValueDictionary[tuple[int, str, str, bytes], CredentialGate] = (
    weakref.WeakValueDictionary()
)


def shared_gate(connection: ConnectionConfig, token: str) -> CredentialGate:
    """The pacing gate of this credential in this process, created on first use."""
    digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
    key = (id(asyncio.get_running_loop()), connection.vendor, connection.base_url, digest)
    gate = _GATES.get(key)
    if gate is None:
        gate = CredentialGate(
            connection.rate_limit,
            connection.headroom,
            period=connection.rate_period,
            max_in_flight=connection.max_in_flight,
            deadline=connection.rate_limit_deadline,
        )
        _GATES[key] = gate
    return gate


class VendorClient:
    """HTTP for one connection; use `async with VendorClient(...) as client`."""

    def __init__(
        self,
        connection: ConnectionConfig,
        connector: Connector,
        token: str,
        *,
        gate: CredentialGate | None = None,
        budgets: BudgetStore | None = None,
    ) -> None:
        self.connection = connection
        self.connector = connector
        self._token = token
        self._gate = gate  # the credential's shared gate unless one is given (tests)
        #: where the credential's budget is shared with other processes (syncer.budget)
        self._budgets = budgets
        self.auth = connector.auth(connection.base_url, token, self._unauthenticated)
        self._session: aiohttp.ClientSession | None = None
        #: the host has answered this client once: from then on, losing it is retried
        self._answered = False

    @property
    def gate(self) -> CredentialGate:
        assert self._gate is not None, "use VendorClient as an async context manager"
        return self._gate

    async def __aenter__(self) -> VendorClient:
        if self._gate is None:
            self._gate = shared_gate(self.connection, self._token)
        if self._budgets is not None:
            conn = self.connection
            credential = credential_id(conn.vendor, conn.base_url, self._token)
            label = f"{conn.vendor} connection {conn.name!r}"
            self._gate.share(SharedBudget(self._budgets, credential, label))
        headers = {"Accept": "application/json", "User-Agent": "syncer/0.1"}
        headers.update(self.connection.headers)
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(self._headers_sent)
        self._session = aiohttp.ClientSession(
            headers=headers,
            trace_configs=[tracing],
            timeout=aiohttp.ClientTimeout(total=self.connection.timeout),
            connector=aiohttp.TCPConnector(limit=64, ssl=self._tls()),
            raise_for_status=False,
        )
        return self

    def _tls(self) -> ssl.SSLContext | bool:
        """Verified TLS always: the system's CAs, plus the connection's `ca_file` if set."""
        ca_file = self.connection.ca_file
        if ca_file is None:
            return True
        try:
            context = ssl.create_default_context()
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise errors.ConfigError(
                f"connection {self.connection.name!r}: cannot load ca_file {ca_file}: {exc}"
            ) from None
        return context

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @overload
    async def send(
        self,
        request: Request,
        *,
        what: str,
        stats: StreamStats | None = None,
        decode: None = None,
        retry_ambiguous: bool = True,
        once: bool = False,
    ) -> tuple[Any, bool]: ...

    @overload
    async def send(
        self,
        request: Request,
        *,
        what: str,
        stats: StreamStats | None = None,
        decode: Callable[[bytes], Awaitable[T]],
        retry_ambiguous: bool = True,
        once: bool = False,
    ) -> T: ...

    async def send(
        self,
        request: Request,
        *,
        what: str,
        stats: StreamStats | None = None,
        decode: Callable[[bytes], Awaitable[Any]] | None = None,
        retry_ambiguous: bool = True,
        once: bool = False,
    ) -> Any:
        """Send a request under the credential's pacing, retrying what may pass.

        `decode` turns a 2xx body into the result (default: `parse_json`, giving (value,
        strict)); a ValueError from it means a truncated or invalid body, which is retried.
        `what` names the request in errors ("stream master:LOCATION page 7").
        `retry_ambiguous=False` (writes that are not idempotent): only answers that prove the
        request was not applied (429) are retried; a timeout, a 5xx, a lost connection or an
        unreadable 2xx body is raised at once, for the caller to read back before any resend.
        `once` (`syncer check`): one attempt, whatever the answer, a 429 included.
        """
        counters = stats or StreamStats()
        budget = RetryBudget(self.connection.retry_timeout, self.gate.clock)
        retry = self._should_retry if retry_ambiguous else self._should_retry_unapplied
        # the time bound is the budget's (it leaves 429 stretches out), not stamina's
        attempts = stamina.retry_context(
            on=lambda exc: retry(exc, budget),
            attempts=1 if once else self.connection.max_attempts,
            timeout=None,
            wait_initial=0.5,
            wait_max=MAX_PAUSE,
            wait_jitter=1.0,
        )
        default = answers.parse if request.method == "GET" else answers.parse_write
        async for attempt in attempts:
            with attempt:
                if attempt.num > 1:
                    counters.retries += 1
                if once:
                    return await self._authenticated(request, what, counters, decode or default)
                return await self._paced(request, what, counters, decode or default, budget)
        raise AssertionError("unreachable: stamina re-raises the last error")

    async def _paced(
        self,
        request: Request,
        what: str,
        stats: StreamStats,
        decode: Callable[[bytes], Awaitable[T]],
        budget: RetryBudget,
    ) -> T:
        """One attempt, sent again after each 429 (which costs no attempt): it waits at the gate
        with every other request of the credential, until the credential has made no progress
        for `rate_limit_deadline` seconds."""
        first = self.gate.clock()
        latest = first
        try:
            while True:
                latest = self.gate.clock()
                try:
                    return await self._authenticated(request, what, stats, decode)
                except errors.RateLimited as exc:
                    self._limited(exc, stats)
                stats.retried()
        finally:
            budget.exclude(latest - first)

    def _limited(self, exc: errors.RateLimited, stats: StreamStats) -> None:
        """Pause and adapt the credential after a 429; give up once it has made no progress
        for the deadline."""
        gate = self.gate
        adapted = gate.limited(exc.retry_after)
        metrics.RATE_LIMITED.labels(self.connection.name).inc()
        metrics.connection_rates(self.connection, gate.rate)
        log.warning(
            "http.rate_limited", pause_s=round(adapted.pause, 3), retry_after=exc.retry_after
        )
        if adapted.rate is not None:
            self._rate_adapted(adapted.rate, stats)
        stalled = gate.without_progress()
        if stalled >= gate.deadline:
            raise errors.RateLimited(
                f"{exc.message}; {self.connector.vendor} has refused every request of connection "
                f"{self.connection.name!r} with 429 for {stalled:.0f} s (rate_limit_deadline "
                f"{gate.deadline:g} s): its limit may be far below rate_limit "
                f"{self.connection.rate_limit:g} per {self.connection.rate_period:g} s, or "
                "another client is using the same credential",
                retry_after=exc.retry_after,
            ) from None

    def _rate_adapted(self, rate: float, stats: StreamStats) -> None:
        """A run warning: the vendor refused requests below the configured rate (the gate logs
        `http.rate_adapted` itself)."""
        per_period = rate * self.connection.rate_period
        stats.forget_warnings(RATE_WARNING)
        stats.warn(
            f"connection {self.connection.name!r}: the vendor answered 429 below rate_limit "
            f"{self.connection.rate_limit:g} per {self.connection.rate_period:g} s; "
            f"{RATE_WARNING} {per_period:.3g} per {self.connection.rate_period:g} s "
            "(set rate_limit to what the vendor really allows)"
        )

    async def readiness(self) -> bool | None:
        """The vendor's unauthenticated readiness probe; None where the vendor has none."""
        probe = self.connector.readiness
        if probe is None:
            return None
        try:
            await self._unauthenticated(probe, {})
        except errors.SyncerError:
            return False
        return True

    async def _headers_sent(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        if isinstance(context.trace_request_ctx, Ticket):
            await self.gate.leave(context.trace_request_ctx)

    def _should_retry_unapplied(self, exc: Exception, budget: RetryBudget) -> bool | float:
        """A write that is not idempotent is retried only after answers that prove it was not
        applied; 429s are sent again before they get here (`_paced`)."""
        return False

    def _should_retry(self, exc: Exception, budget: RetryBudget) -> bool | float:
        if isinstance(exc, errors.RateLimited):
            return False  # the credential made no progress for rate_limit_deadline (`_limited`)
        if isinstance(exc, errors.RetriableVendorError) and not budget.exhausted():
            log.warning("http.retry_scheduled", error=exc.message)
            return True
        return False

    async def _authenticated(
        self,
        request: Request,
        what: str,
        stats: StreamStats,
        decode: Callable[[bytes], Awaitable[T]],
    ) -> T:
        """One attempt; a 401 that a fresh token may cure is replayed once with a new token."""
        for replay in (False, True):
            headers = await self.auth.headers()
            status, retry_after, body, media = await self._exchange(request, headers, what, stats)
            if status == 401 and not replay and self.auth.invalidate(headers):
                log.info("http.token_refreshed_after_401", what=what)
                continue
            return await self._check(status, retry_after, body, what, decode, media)
        raise AssertionError("unreachable: the replay returns or raises")

    async def _unauthenticated(self, request: Request, headers: Mapping[str, str]) -> Any:
        """A paced request without the connection's auth (token exchange, readiness)."""
        what = f"{request.method} {request.path}"
        status, retry_after, body, media = await self._exchange(
            request, headers, what, StreamStats()
        )
        parsed, _ = await self._check(status, retry_after, body, what, answers.parse, media)
        return parsed

    async def _exchange(
        self, request: Request, headers: Mapping[str, str], what: str, stats: StreamStats
    ) -> tuple[int, str | None, bytes, str | None]:
        """Send once, paced and within the in-flight cap; (status, Retry-After, body,
        Content-Type)."""
        assert self._session is not None, "use VendorClient as an async context manager"
        ticket = await self.gate.acquire()
        stats.request_sent()
        metrics.REQUESTS.labels(self.connection.name).inc()
        url = self.connection.base_url + request.path
        try:
            async with (
                self.gate.in_flight(),
                self._session.request(
                    request.method,
                    url,
                    params=dict(request.params),
                    json=request.json,
                    headers={**headers, **request.headers},
                    trace_request_ctx=ticket,
                ) as resp,
            ):
                body = await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
                media = resp.headers.get("Content-Type")
        except TimeoutError:
            raise errors.RetriableVendorError(
                f"{what}: no answer within {self.connection.timeout}s"
            ) from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise errors.ConfigError(
                f"{what}: the TLS certificate of {self.connection.base_url} is not trusted "
                f"({exc.certificate_error}); if it is signed by a private CA, set ca_file on "
                f"connection {self.connection.name!r}"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            if not self._answered:
                raise answers.unreachable(self.connection, exc) from None
            raise errors.RetriableVendorError(f"{what}: {type(exc).__name__}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise errors.RetriableVendorError(f"{what}: {type(exc).__name__}: {exc}") from None
        finally:
            self.gate.release(ticket)  # one that never left lets the next go
        self._answered = True
        if status == 429:
            stats.throttled()
        return status, retry_after, body, media

    async def _check(
        self,
        status: int,
        retry_after: str | None,
        body: bytes,
        what: str,
        decode: Callable[[bytes], Awaitable[T]],
        media: str | None = None,
    ) -> T:
        """The one place where an HTTP answer becomes a value or a syncer error (answers.py
        says what each refusal means)."""
        if 200 <= status < 300:
            try:
                parsed = await decode(body)
            except ValueError:
                # an HTML page (maintenance, captive portal, proxy) or a cut body: retried
                said = bodies.describe(body, media).replace(self._token, "***")
                vendor = self.connector.vendor
                raise errors.RetriableVendorError(f"{what}: {vendor} sent {said}") from None
            self.gate.succeeded()
            return parsed
        conn, connector = self.connection, self.connector
        raise answers.refusal(status, retry_after, body, what, conn, connector, self._token)
