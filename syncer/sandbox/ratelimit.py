"""Exto's "3 requests per second per token", as a sliding window over an injectable clock.

A request at time t is admitted when fewer than `limit` requests from the same token were admitted
in the half-open window (t - window, t]. Rejected requests are not recorded, so a client hammering
through 429s does not extend its own ban (our assumption; Exto says only that requests "may be
temporarily blocked until the time window resets").

    limiter = SlidingWindowLimiter(window=1.0, clock=fake_clock)
    limiter.admit("token", limit=3)  # True three times, then False until the clock moves 1 s
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

Clock = Callable[[], float]


class SlidingWindowLimiter:
    """Per-token sliding-window admission control."""

    __slots__ = ("_admitted", "clock", "window")

    def __init__(self, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        #: token -> times of admitted requests still inside the window, oldest first
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, token: str, limit: int, now: float | None = None) -> bool:
        """Record and admit a request now, unless `limit` (> 0) requests already fill the window.

        `now` defaults to the clock; pass the reading already logged for the request so the log
        and the limiter agree to the microsecond.
        """
        now = self.clock() if now is None else now
        times = self._admitted.setdefault(token, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if limit > 0 and len(times) >= limit:
            return False
        times.append(now)
        return True


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most `times` (sorted ascending) inside any half-open span of `window` seconds.

    Uses the limiter's own rule, so for admitted requests it never exceeds the limit.
    """
    best = 0
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best
