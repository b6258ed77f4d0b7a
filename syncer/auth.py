"""Auth strategies: a static token in a header, or an API key exchanged for a short-lived token.

    auth = bearer(base_url, token, fetch)   # StaticToken: "Bearer <token>" (Exto, XtraKit)
    auth = bare(base_url, token, fetch)     # StaticToken: the token, no scheme (Ioto)
    auth = TokenExchange(fetch_token)                               # Actito: key -> 15 min bearer

`headers()` gives the headers for the next request; `invalidate(headers)` is called on a 401 and
says whether asking again can help (a refreshed token) before the request is replayed once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from syncer import log

#: fetch_token() -> (access token, lifetime in seconds)
TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class Auth(Protocol):
    """How one connection authenticates its requests."""

    async def headers(self) -> dict[str, str]: ...

    def invalidate(self, used: Mapping[str, str]) -> bool: ...


class StaticToken:
    """A token that never changes: a 401 is final."""

    def __init__(self, header: str, value: str) -> None:
        self._headers = {header: value}

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self, used: Mapping[str, str]) -> bool:
        return False


def bearer(base_url: str, token: str, fetch: object) -> Auth:
    """A connector's `auth` for a static token sent as `Authorization: Bearer <token>`."""
    return StaticToken("Authorization", f"Bearer {token}")


def bare(base_url: str, token: str, fetch: object) -> Auth:
    """A connector's `auth` for a static token sent as `Authorization: <token>`, no scheme."""
    return StaticToken("Authorization", token)


class TokenExchange:
    """A short-lived bearer token, fetched with an API key and refreshed early.

    The token is renewed once `refresh_at` of its lifetime has passed (80%: 12 of Actito's 15
    minutes), under a lock, so concurrent pages wait for one refresh instead of stampeding the
    token URL. A 401 drops the token the failed request used; the replay fetches a new one.
    Every token fetched is a secret like the key that bought it: registered before it is
    used, so no log line, error or table can show it.
    """

    def __init__(
        self,
        fetch: TokenFetch,
        *,
        refresh_at: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_at = refresh_at
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_after = 0.0  # clock() value from which the token is refreshed
        self.fetches = 0

    async def headers(self) -> dict[str, str]:
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_after:
                token, lifetime = await self._fetch()
                log.register_secret(token)
                self.fetches += 1
                self._token = token
                self._renew_after = self._clock() + lifetime * self._refresh_at
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, used: Mapping[str, str]) -> bool:
        if used.get("Authorization") == f"Bearer {self._token}":
            self._token = None
        return True


def parse_lifetime(value: object) -> float:
    """Seconds from an `expiresIn` such as "900s" (Actito's string form) or 900."""
    if isinstance(value, bool):
        raise ValueError(f"not a token lifetime: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("s")
        return float(text)
    raise ValueError(f"not a token lifetime: {value!r}")
