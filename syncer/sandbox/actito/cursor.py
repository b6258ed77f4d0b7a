"""The opaque `searchAfter` cursor: the last key served, signed so a tampered cursor is refused.

A cursor is `<base64url JSON {"t": table, "k": key}>.<base64url HMAC-SHA256, 12 bytes>`. The HMAC
key derives from the seed, so a cursor stays valid across restarts of the same sandbox (our
assumption: a real keyset cursor encodes data, not a session).

    cursors = Cursors(seed=1)
    text = cursors.encode("profiles:customers", 42)
    cursors.decode(text, "profiles:customers", int)  # -> 42; CursorError if anything is off
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TypeVar

import orjson

K = TypeVar("K", int, str)


class CursorError(ValueError):
    """The cursor was not issued by this sandbox for this table (tampered, truncated, foreign)."""


class Cursors:
    """Encodes and checks `searchAfter` values."""

    __slots__ = ("_secret",)

    def __init__(self, seed: int) -> None:
        self._secret = hashlib.sha256(f"actito-sandbox-cursor:{seed}".encode()).digest()

    def encode(self, table: str, key: int | str) -> str:
        body = _b64(orjson.dumps({"t": table, "k": key}))
        return f"{body}.{self._sign(body)}"

    def decode(self, cursor: str, table: str, key_type: type[K]) -> K:
        """The key inside `cursor`; CursorError unless it is intact and issued for `table`."""
        body, _, signature = cursor.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise CursorError("searchAfter is not a cursor issued by this API")
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError) as exc:
            raise CursorError("searchAfter cannot be decoded") from exc
        if not isinstance(payload, dict) or payload.get("t") != table:
            raise CursorError("searchAfter belongs to another table")
        key = payload.get("k")
        if not isinstance(key, key_type) or isinstance(key, bool):
            raise CursorError("searchAfter holds no valid key")
        return key

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:12])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
