"""XtraKit's assumed Laravel `throttle:api` (60 per minute per key), by default as a sliding window.

The admission rule is `syncer.sandbox.common.ratelimit`'s (the `limiter`, `limiter_burst` and
`limit_factor` knobs pick the kind); this wrapper adds what Laravel's headers need: the slots left
after an admitted request, and the whole seconds a refused one must wait.

    throttle = Throttle(window=60.0, clock=fake_clock)
    throttle.hit("key", limit=60)  # Verdict(admitted=True, remaining=59, retry_after=0)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from syncer.sandbox.common.ratelimit import Clock, Limiter, LimiterKind, Rule


@dataclass(frozen=True)
class Verdict:
    """The throttle's answer to one request."""

    admitted: bool
    #: requests the key may still make in the current window (after this one, if admitted)
    remaining: int
    #: refused: whole seconds (>= 1) until a slot frees; admitted: 0
    retry_after: int


class Throttle:
    """Per-key admission; refused requests are not recorded (as in Laravel)."""

    __slots__ = ("_limiter", "window")

    def __init__(self, window: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.window = window
        self._limiter = Limiter(clock=clock)

    def hit(
        self,
        key: str,
        limit: int,
        now: float | None = None,
        *,
        kind: LimiterKind = "sliding",
        burst: int = 1,
        factor: float = 1.0,
    ) -> Verdict:
        """Admit and record a request now, unless `limit` (> 0) requests already fill the window
        (counted the `kind` way, at `factor` of the limit).

        `now` defaults to the clock; pass the reading already logged for the request. Requests
        made while unlimited are not recorded.
        """
        rule = Rule(limit, self.window, kind, burst=burst, factor=factor)
        verdict = self._limiter.check(key, rule, now)
        if verdict.admitted:
            return Verdict(True, verdict.remaining, 0)
        return Verdict(False, 0, max(math.ceil(verdict.retry_after - 1e-9), 1))
