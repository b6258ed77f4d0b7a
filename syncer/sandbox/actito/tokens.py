"""Access tokens: `GET /auth/token` swaps an API key for a bearer token that lives `ttl` seconds.

Tokens are random and opaque; each remembers the key that obtained it and when it expires on the
sandbox clock. Removing a key from `api_keys` revokes its tokens (our assumption).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Token:
    api_key: str
    #: sandbox clock reading from which the token is refused
    expires_at: float


class TokenStore:
    """The tokens issued so far (expired ones are dropped as new ones are issued)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    def issue(self, api_key: str, ttl_seconds: int, now: float) -> dict[str, Any]:
        """A new token for `api_key`, as Actito's token response body."""
        self._tokens = {t: v for t, v in self._tokens.items() if v.expires_at > now}
        access = secrets.token_urlsafe(48)
        self._tokens[access] = Token(api_key, now + ttl_seconds)
        return {
            "accessToken": access,
            "tokenType": "bearer",
            "expiresIn": f"{ttl_seconds}s",
            "scope": "read write",
            "jti": str(uuid.uuid4()),
        }

    def refusal(self, access: str | None, now: float, api_keys: tuple[str, ...]) -> str | None:
        """Why `access` may not be used now (a 401 message), or None when it may."""
        if access is None:
            return "Full authentication is required: send Authorization: Bearer <accessToken>"
        token = self._tokens.get(access)
        if token is None or token.api_key not in api_keys:
            return "Invalid access token"
        if now >= token.expires_at:
            return "Access token expired"
        return None
