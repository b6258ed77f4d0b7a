"""The alternative the pacing gate was measured against: the same gate (pauses, adaptation,
in-flight cap) with its spacing left to aiolimiter's `AsyncLimiter` of capacity 1, which counts a
request when it is admitted rather than when it leaves. Used by `bench/sync_once.py --pacer
aiolimiter` only; syncer itself never imports it.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

from syncer.pacing import CredentialGate, Ticket


class AiolimiterGate(CredentialGate):
    """`CredentialGate` spacing requests by `AsyncLimiter(1, 1 / rate)`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._limiter = AsyncLimiter(1, 1 / self.rate)
        self._limiter_rate = self.rate

    async def acquire(self) -> Ticket:
        if self._limiter_rate != self.rate:  # adapted: a limiter at the new rate
            self._limiter = AsyncLimiter(1, 1 / self.rate)
            self._limiter_rate = self.rate
        while (wait := self._paused_until - self.clock()) > 0:
            await self._sleep(wait)
        await self._limiter.acquire()
        return Ticket()
