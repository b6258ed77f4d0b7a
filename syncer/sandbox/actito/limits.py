"""Actito's two licence limits (vendors.md §3.5): 5 requests in flight, 100 calls a minute.

Excess concurrency is refused with 429 at once; excess calls are never refused but slowed down,
each by `ms_per_excess_call` times the number of calls over the limit in the last 60 s (or as the
`limiter` knob counts them), so a client that ignores the per-minute limit ends up holding its
requests in flight and hits the first one.

    gate = LicenceGate()
    if gate.enter(limit=5): ...; gate.leave()
    calls = CallWindow(window=60.0)
    delay_ms = calls.throttle_ms(now, limit=100, ms_per_excess_call=200.0)
"""

from __future__ import annotations

import math
from collections import deque

from syncer.sandbox.common.ratelimit import LimiterKind, Rule


class LicenceGate:
    """Counts the licence's data requests in flight and remembers the most seen at once."""

    __slots__ = ("in_flight", "peak")

    def __init__(self) -> None:
        self.in_flight = 0
        #: the most requests in flight at once since the last `reset_peak`
        self.peak = 0

    def enter(self, limit: int) -> bool:
        """Admit a request unless `limit` (> 0) are already in flight; a refusal counts nothing."""
        if limit > 0 and self.in_flight >= limit:
            return False
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def reset_peak(self) -> None:
        self.peak = self.in_flight


class CallWindow:
    """The licence's calls, counted the `limiter` knob's way to tell which are over the limit.

    Every call is recorded (Actito never refuses one for the per-minute limit). A call's
    *excess* is how far over the limit it is: `sliding` (the default), the calls in the last
    window / factor seconds, this one included, minus the limit; `fixed`, the same within the
    clock's current span of window / factor seconds; `token_bucket`, the tokens it is short of in
    a bucket of `burst` tokens refilled at factor * limit / window a second, which each call
    drains (below zero, when calls come faster).
    """

    __slots__ = ("_rule", "_span_index", "_times", "_tokens", "_updated", "window")

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self._rule: Rule | None = None
        self._span_index = 0
        self._tokens = 0.0
        self._updated = 0.0

    def record(self, now: float) -> int:
        """Record a call at `now`; return the calls in (now - window, now], this one included."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        self._times.append(now)
        return len(self._times)

    def throttle_ms(
        self,
        now: float,
        limit: int,
        ms_per_excess_call: float,
        *,
        kind: LimiterKind = "sliding",
        burst: int = 1,
        factor: float = 1.0,
    ) -> float:
        """Record a call at `now`; the latency it earns for its excess over `limit` (0 = never)."""
        rule = Rule(limit, self.window, kind, burst=burst, factor=factor)
        if rule != self._rule:  # a changed knob starts the count afresh
            self._rule = rule
            self._times.clear()
            self._span_index = math.floor(now / rule.span)
            self._tokens = float(burst)
            self._updated = now
        if kind == "token_bucket":
            excess = self._bucket(now, rule)
        elif kind == "fixed":
            excess = self._fixed(now, rule)
        else:
            while self._times and self._times[0] <= now - rule.span:
                self._times.popleft()
            self._times.append(now)
            excess = len(self._times) - limit
        if limit <= 0 or excess <= 0:
            return 0.0
        return excess * ms_per_excess_call

    def _fixed(self, now: float, rule: Rule) -> int:
        index = math.floor(now / rule.span)
        if index != self._span_index:
            self._span_index = index
            self._times.clear()
        self._times.append(now)
        return len(self._times) - rule.limit

    def _bucket(self, now: float, rule: Rule) -> int:
        if rule.limit <= 0:
            return 0
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(rule.burst), self._tokens + elapsed * rule.refill) - 1.0
        self._updated = now
        return math.ceil(-self._tokens - 1e-9) if self._tokens < 0 else 0
