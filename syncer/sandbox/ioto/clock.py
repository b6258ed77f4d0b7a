"""Sandbox time: the instant (Unix ms) the injected clock stands for, and `expires` values read.

The injected clock counts seconds from an arbitrary origin (`time.monotonic`, a fake clock), so
sandbox time anchors it: it starts at 2025-07-01T00:00:00.000Z (the first generation instant) when
the sandbox is built and moves with the clock; a generation jumps it to that generation's instant
if it is ahead. Writes stamp `updated` and `created` with it, and items expire by it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncer.sandbox.common.ratelimit import Clock

#: numbers above this are milliseconds, below it seconds (year 5138 in seconds, 1973 in ms)
_MS_THRESHOLD = 100_000_000_000
#: 10000-01-01T00:00:00Z in ms: later instants cannot be written as ISO dates
_MS_MAX = 253_402_300_800_000


class DataClock:
    """Sandbox time on top of the injected clock; never goes backwards."""

    def __init__(self, clock: Clock, start_ms: int) -> None:
        self.clock = clock
        self._anchor_ms = start_ms
        self._anchor_at = clock()

    def now_ms(self) -> int:
        elapsed = max(0.0, self.clock() - self._anchor_at)
        return self._anchor_ms + round(elapsed * 1000)

    def jump(self, ms: int) -> None:
        """Move on to `ms` unless sandbox time is already past it."""
        self._anchor_ms = max(ms, self.now_ms())
        self._anchor_at = self.clock()


def instant_ms(value: Any) -> int | None:
    """An `expires` value as Unix ms: an ISO-8601 string (a zone is required), or a Unix time in
    seconds or milliseconds (told apart by size); null is None. Raises ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, int | float):
        ms = round(value if abs(value) > _MS_THRESHOLD else value * 1000)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)  # ValueError when malformed
        if moment.tzinfo is None:
            raise ValueError("a date needs a time zone")
        ms = round(moment.astimezone(UTC).timestamp() * 1000)
    else:
        raise ValueError("not a date")
    if not 0 <= ms < _MS_MAX:
        raise ValueError("date out of range")
    return ms
