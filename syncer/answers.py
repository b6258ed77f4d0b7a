"""What a vendor's answer means: the default decoders, Retry-After, and every way an answer
that is not a success becomes a syncer error (refused credential, stopped account, 429,
weather, a refusal of the request) or a host that never answered becomes a configuration error.
`http.VendorClient` calls these; nothing here sends anything."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from syncer import errors
from syncer.models import Connector
from syncer.records import parse_json
from syncer.settings import ConnectionConfig, is_loopback

RETRIABLE_STATUSES = frozenset({408, 500, 502, 503, 504})


async def parse(body: bytes) -> tuple[Any, bool]:
    """Default decoding: JSON, on the event loop. Not in a thread: a thread of this process can
    take the GIL between a request's send stamp and its bytes leaving (workers.decode)."""
    return parse_json(body)


async def parse_write(body: bytes) -> tuple[Any, bool]:
    """A write's answer: JSON, or nothing at all (a 204, Exto's empty revoke answer)."""
    if not body.strip():
        return None, True
    return await parse(body)


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


def unreachable(
    connection: ConnectionConfig, exc: aiohttp.ClientConnectorError
) -> errors.ConfigError:
    """A host that never answered this client (refused, or a name that does not resolve) is a
    configuration mistake until proven otherwise: exit 6 at once, never retried. Once it has
    answered, losing it is weather (retried)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        reason = f"the host name {exc.host!r} does not resolve"
    else:
        number = exc.os_error.errno
        said = os.strerror(number) if number else str(exc.os_error) or "connection failed"
        reason = f"{exc.host}:{exc.port}: {said.lower()}"
    hint = ""
    if is_loopback(urlsplit(connection.base_url).hostname or ""):
        hint = " (the sandbox: make sandbox, or syncer sandbox)"
    return errors.ConfigError(
        f"connection {connection.name!r} cannot reach {connection.base_url} "
        f"({reason}); check its base_url, or start the server it names{hint}"
    )


def refusal(
    status: int,
    retry_after: str | None,
    body: bytes,
    what: str,
    connection: ConnectionConfig,
    connector: Connector,
    token: str,
) -> errors.SyncerError:
    """The error an answer that is not a 2xx means (the vendor's words in it, the token
    never)."""
    vendor = connector.vendor
    summary = _summary(connector, body, token)
    detail = f"HTTP {status}" + (f": {summary}" if summary else "")
    refuses = connector.refuses_credential
    if status in connector.auth_failures and (refuses is None or refuses(status, summary)):
        return errors.AuthError(
            f"{vendor} refused the credential of connection {connection.name!r} "
            f"({detail}) on {what}; check the token in ${connection.token_env}"
        )
    if status in connector.account_failures:
        return errors.AuthError(
            f"{vendor} stopped the account of connection {connection.name!r} "
            f"({detail}) on {what}; this is not retried"
        )
    if status == 429:
        return errors.RateLimited(f"{what}: {detail}", retry_after=parse_retry_after(retry_after))
    if status in RETRIABLE_STATUSES:
        return errors.RetriableVendorError(f"{what}: {detail}", status=status)
    return errors.FatalVendorError(f"{what}: {detail}", status=status, body=summary)


def _summary(connector: Connector, body: bytes, token: str) -> str:
    """The vendor's words in an error body, at most 500 characters, the token masked."""
    try:
        parsed, _ = parse_json(body)
    except ValueError:
        text = body[:200].decode("utf-8", "replace").strip()
        return text.replace(token, "***")
    return connector.error_summary(parsed).replace(token, "***")[:500]
