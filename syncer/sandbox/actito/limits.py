"""Actito's two licence limits (vendors.md §3.5): 5 requests in flight, 100 calls a minute.

Excess concurrency is refused with 429 at once; excess calls are never refused but slowed down,
each by `ms_per_excess_call` times the number of calls over the limit in the last 60 s, so a client
that ignores the per-minute limit ends up holding its requests in flight and hits the first one.

    gate = LicenceGate()
    if gate.enter(limit=5): ...; gate.leave()
    calls = CallWindow(window=60.0)
    delay_ms = calls.throttle_ms(now, limit=100, ms_per_excess_call=200.0)
"""

from __future__ import annotations

from collections import deque


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
    """Arrival times of the calls of the last `window` seconds (sliding, half-open)."""

    __slots__ = ("_times", "window")

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def record(self, now: float) -> int:
        """Record a call at `now`; return the calls in (now - window, now], this one included."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        self._times.append(now)
        return len(self._times)

    def throttle_ms(self, now: float, limit: int, ms_per_excess_call: float) -> float:
        """Record a call at `now`; the latency it earns for the calls over `limit` (0 = none)."""
        count = self.record(now)
        if limit <= 0 or count <= limit:
            return 0.0
        return (count - limit) * ms_per_excess_call
