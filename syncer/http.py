"""One client per connection: aiohttp session, the credential's pacing gate, retries, and the
single place where HTTP outcomes become syncer errors.

Pacing: the gate admits at most floor(rate) requests in any window of 1/headroom seconds
(1.03 s at the default 0.97): a sliding window a little longer than the vendor's one-second
window, so the vendor never sees more than its limit and syncer wastes about 3%.

Why not aiolimiter's AsyncLimiter: a leaky bucket of capacity N lets N + rate*t requests into
any t-second window (a burst, then the drain), which a sliding-window vendor answers with 429;
with capacity 1 it never bursts, but every moment the event loop is late to wake a waiter is
lost for good (measured: 0.75 of a 20 req/s limit with 100 ms latency). A sliding-window log
admits a late request as soon as the window allows, so the average stays at the limit.

A 429 pauses the whole credential (every stream sharing it) for Retry-After, or for an
exponential backoff when the vendor sends none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import SimpleNamespace, TracebackType
from typing import Any, TypeVar, overload

import aiohttp
import stamina
import structlog

from syncer import bodies, errors
from syncer.models import Connector, Request, StreamStats
from syncer.records import parse_json
from syncer.settings import ConnectionConfig

log = structlog.get_logger(__name__)

T = TypeVar("T")
RETRIABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
MAX_PAUSE = 30.0
_POLL = 0.005  # seconds between looks while the whole window is admitted but unsent

#: a request's slot in the pacing window: [send time], math.inf until the headers leave
Ticket = list[float]


async def _parse(body: bytes) -> tuple[Any, bool]:
    """Default decoding: JSON, off the event loop when large (the loop paces requests)."""
    if len(body) > 65_536:
        return await asyncio.to_thread(parse_json, body)
    return parse_json(body)


async def _parse_write(body: bytes) -> tuple[Any, bool]:
    """A write's answer: JSON, or nothing at all (a 204, Exto's empty revoke answer)."""
    if not body.strip():
        return None, True
    return await _parse(body)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def window_for(rate: float, headroom: float, period: float = 1.0) -> tuple[int, float]:
    """(requests, seconds): the sliding window that paces `rate` per `period` at `headroom`."""
    if rate >= 1:
        return int(rate), period / headroom
    return 1, period / (rate * headroom)


class CredentialGate:
    """Paces every request made with one credential, and pauses them all after a 429."""

    def __init__(
        self,
        rate: float,
        headroom: float = 0.97,
        *,
        period: float = 1.0,
        max_in_flight: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.limit, self.period = window_for(rate, headroom, period)
        # a vendor cap on concurrent requests (Actito: 5 per licence, answered with 429)
        self._in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        # the latest admissions; each a one-item list holding its send time, inf until sent
        self._sent: deque[Ticket] = deque(maxlen=self.limit)
        self._turn = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._paused_until = 0.0  # clock() value before which nobody may send
        self._consecutive_429 = 0  # drives the backoff when no Retry-After comes

    async def acquire(self) -> Ticket:
        """Wait for the credential's pause to end and for room in the pacing window.

        The window counts real send times (see `sent`), not admissions: a request that waits
        for a connection or for a busy event loop after admission is counted when it leaves,
        so requests bunched by such delays still never exceed the limit at the vendor.
        """
        async with self._turn:
            while True:
                now = self._clock()
                wait = self._paused_until - now
                recent = [t[0] for t in self._sent if t[0] > now - self.period]
                if len(recent) >= self.limit:
                    oldest = min(recent)
                    # all admitted but not yet sent: look again shortly
                    room_at = oldest + self.period if oldest != math.inf else now + _POLL
                    wait = max(wait, room_at - now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            ticket: Ticket = [math.inf]
            self._sent.append(ticket)
            return ticket

    def sent(self, ticket: Ticket) -> None:
        """Stamp a request's send time (the headers left), or the moment it failed to send."""
        if ticket[0] == math.inf:
            ticket[0] = self._clock()

    @contextlib.asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """Hold one of the credential's concurrent-request slots, where the vendor caps them."""
        if self._in_flight is None:
            yield
            return
        async with self._in_flight:
            yield

    def pause(self, retry_after: float | None) -> float:
        """Stop every request of this credential for Retry-After, or back off exponentially."""
        self._consecutive_429 += 1
        if retry_after is None:
            wait = min(MAX_PAUSE, 2.0 ** (self._consecutive_429 - 1)) + self._rng.uniform(0, 0.5)
        else:
            wait = min(retry_after, 300.0)
        self._paused_until = max(self._paused_until, self._clock() + wait)
        return wait

    def succeeded(self) -> None:
        self._consecutive_429 = 0


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
    ) -> None:
        self.connection = connection
        self.connector = connector
        self._token = token
        self._gate = gate  # the credential's shared gate unless one is given (tests)
        self.auth = connector.auth(connection.base_url, token, self._unauthenticated)
        self._session: aiohttp.ClientSession | None = None

    @property
    def gate(self) -> CredentialGate:
        assert self._gate is not None, "use VendorClient as an async context manager"
        return self._gate

    async def __aenter__(self) -> VendorClient:
        if self._gate is None:
            self._gate = shared_gate(self.connection, self._token)
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
    ) -> T: ...

    async def send(
        self,
        request: Request,
        *,
        what: str,
        stats: StreamStats | None = None,
        decode: Callable[[bytes], Awaitable[Any]] | None = None,
        retry_ambiguous: bool = True,
    ) -> Any:
        """Send a request under the credential's pacing, retrying what may pass.

        `decode` turns a 2xx body into the result (default: `parse_json`, giving (value,
        strict)); a ValueError from it means a truncated or invalid body, which is retried.
        `what` names the request in errors ("stream master:LOCATION page 7").
        `retry_ambiguous=False` (writes that are not idempotent): only answers that prove the
        request was not applied (429) are retried; a timeout, a 5xx, a lost connection or an
        unreadable 2xx body is raised at once, for the caller to read back before any resend.
        """
        counters = stats or StreamStats()
        attempts = stamina.retry_context(
            on=self._should_retry if retry_ambiguous else self._should_retry_unapplied,
            attempts=self.connection.max_attempts,
            timeout=self.connection.retry_timeout,
            wait_initial=0.5,
            wait_max=MAX_PAUSE,
            wait_jitter=1.0,
        )
        async for attempt in attempts:
            with attempt:
                if attempt.num > 1:
                    counters.retries += 1
                default = _parse if request.method == "GET" else _parse_write
                return await self._authenticated(request, what, counters, decode or default)
        raise AssertionError("unreachable: stamina re-raises the last error")

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
        if isinstance(context.trace_request_ctx, list):
            self.gate.sent(context.trace_request_ctx)

    def _should_retry_unapplied(self, exc: Exception) -> bool | float:
        if isinstance(exc, errors.RateLimited):
            return self._should_retry(exc)
        return False

    def _should_retry(self, exc: Exception) -> bool | float:
        if isinstance(exc, errors.RateLimited):
            wait = self.gate.pause(exc.retry_after)
            log.warning("http.rate_limited", pause_s=round(wait, 3), retry_after=exc.retry_after)
            return 0.0  # the retry itself waits at the gate with everyone else
        if isinstance(exc, errors.RetriableVendorError):
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
        parsed, _ = await self._check(status, retry_after, body, what, _parse, media)
        return parsed

    async def _exchange(
        self, request: Request, headers: Mapping[str, str], what: str, stats: StreamStats
    ) -> tuple[int, str | None, bytes, str | None]:
        """Send once, paced and within the in-flight cap; (status, Retry-After, body,
        Content-Type)."""
        assert self._session is not None, "use VendorClient as an async context manager"
        ticket = await self.gate.acquire()
        stats.requests += 1
        url = self.connection.base_url + request.path
        try:
            async with (
                self.gate.in_flight(),
                self._session.request(
                    request.method,
                    url,
                    params=dict(request.params),
                    json=request.json,
                    headers=dict(headers),
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
        except aiohttp.ClientError as exc:
            raise errors.RetriableVendorError(f"{what}: {type(exc).__name__}: {exc}") from None
        finally:
            self.gate.sent(ticket)  # a request that never left still used its slot
        if status == 429:
            stats.rate_limited += 1
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
        """The one place where an HTTP answer becomes a value or a syncer error."""
        vendor = self.connector.vendor
        if 200 <= status < 300:
            try:
                parsed = await decode(body)
            except ValueError:
                # an HTML page (maintenance, captive portal, proxy) or a cut body: retried
                said = bodies.describe(body, media).replace(self._token, "***")
                raise errors.RetriableVendorError(f"{what}: {vendor} sent {said}") from None
            self.gate.succeeded()
            return parsed
        summary = self._summary(body)
        detail = f"HTTP {status}" + (f": {summary}" if summary else "")
        refuses = self.connector.refuses_credential
        if status in self.connector.auth_failures and (refuses is None or refuses(status, summary)):
            raise errors.AuthError(
                f"{vendor} refused the credential of connection {self.connection.name!r} "
                f"({detail}) on {what}; check the token in ${self.connection.token_env}"
            )
        if status in self.connector.account_failures:
            raise errors.AuthError(
                f"{vendor} stopped the account of connection {self.connection.name!r} "
                f"({detail}) on {what}; this is not retried"
            )
        if status == 429:
            raise errors.RateLimited(
                f"{what}: {detail}", retry_after=parse_retry_after(retry_after)
            )
        if status in RETRIABLE_STATUSES:
            raise errors.RetriableVendorError(f"{what}: {detail}", status=status)
        raise errors.FatalVendorError(f"{what}: {detail}", status=status, body=summary)

    def _summary(self, body: bytes) -> str:
        try:
            parsed, _ = parse_json(body)
        except ValueError:
            text = body[:200].decode("utf-8", "replace").strip()
            return text.replace(self._token, "***")
        return self.connector.error_summary(parsed).replace(self._token, "***")[:500]
