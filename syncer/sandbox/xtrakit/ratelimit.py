"""XtraKit's assumed Laravel `throttle:api` (60 per minute per key), as a sliding window.

A request at time t is admitted when fewer than `limit` requests from the same key were admitted
in the half-open window (t - window, t], the rule of `syncer.sandbox.ratelimit`. This limiter also
says what Laravel's headers need: the slots left after an admitted request, and how long a
refused one must wait for the oldest admitted request to leave the window.

    throttle = Throttle(window=60.0, clock=fake_clock)
    throttle.hit("key", limit=60)  # Verdict(admitted=True, remaining=59, retry_after=0)
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from syncer.sandbox.ratelimit import Clock


@dataclass(frozen=True)
class Verdict:
    """The throttle's answer to one request."""

    admitted: bool
    #: requests the key may still make in the current window (after this one, if admitted)
    remaining: int
    #: refused: whole seconds (>= 1) until a slot frees; admitted: 0
    retry_after: int


class Throttle:
    """Per-key sliding-window admission; refused requests are not recorded (as in Laravel)."""

    __slots__ = ("_admitted", "clock", "window")

    def __init__(self, window: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        #: key -> times of admitted requests still inside the window, oldest first
        self._admitted: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int, now: float | None = None) -> Verdict:
        """Admit and record a request now, unless `limit` (> 0) requests already fill the window.

        `now` defaults to the clock; pass the reading already logged for the request. Requests
        made while unlimited are not recorded.
        """
        if limit <= 0:
            return Verdict(True, 0, 0)
        now = self.clock() if now is None else now
        times = self._admitted.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= limit:
            wait = math.ceil(times[0] + self.window - now)
            return Verdict(False, 0, max(wait, 1))
        times.append(now)
        return Verdict(True, limit - len(times), 0)
