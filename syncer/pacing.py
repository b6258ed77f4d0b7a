"""The pacing gate of one vendor credential: evenly spaced sends, a pause after a 429, and a
paced rate that adapts when the vendor's real limit is lower than the configured one.

Spacing: one request every `period / (rate * headroom)` seconds, measured between the moments
requests actually leave (the headers are sent), not the moments they were admitted: a request
delayed after admission (a connection to open, a busy event loop) pushes the next one back, so
two requests never reach the vendor closer together than the interval. A request is admitted
(`acquire`) once the previous one has left and its slot is near (an interval ahead, at most
`MAX_LEAD`), and waits out the rest in `leave`, which aiohttp calls right before its headers go:
the time aiohttp takes to hand it to a connection is spent inside the interval, not added to it,
and the send time is exact. Evenly spaced requests
suit every common limiter: a sliding or fixed window of N per period never holds more than
N * headroom of them (plus one at a fixed window's edge, which the headroom covers), and a token
bucket refilling at `rate` always has a token ready, even with no burst allowance.

Adaptation (AIMD, as in TCP): the first 429 after a success (an *episode*) multiplies the paced
rate by `DECREASE` (`STEEP_DECREASE` when the previous cut was not followed by a calm stretch)
and remembers the rate that drew it; each calm stretch (`calm` successes in a
row, about two periods' worth of requests) adds `INCREASE` of the configured rate back, up to
`BELOW` of the remembered rate, where it holds; after `PROBE_AFTER` calm stretches there it
probes one step higher, never above the configured rate. So a vendor whose real limit is 75% of
the documented one costs a few 429s while the rate settles just under the real limit, then one
now and again as the rate probes upwards; and a 429 drawn by jitter at the right rate costs a
few seconds at a lower one.

Progress: the time of the credential's latest success. A 429 never consumes a request's retry
budget (http.py); a request gives up on 429s only when no request of the credential has
succeeded for `deadline` seconds.

    gate = CredentialGate(20, 0.97)
    ticket = await gate.acquire()  # waits for the previous request to leave, and the pause
    await gate.leave(ticket)  # from aiohttp's on_request_headers_sent trace: the exact slot
    gate.release(ticket)  # when the request is done, whether it left or not
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog

from syncer.budget import SLOT_LINGER_MAX, SLOT_LINGER_MIN, SharedBudget, Slot

log = structlog.get_logger(__name__)

MAX_PAUSE = 30.0  # the longest backoff after 429s without Retry-After
#: an admitted request is let into aiohttp one interval (at most this long) before its slot,
#: as soon as the previous request has left, and waits out the rest in `leave`, inside the
#: request's timeout: a busy event loop then delays its way through aiohttp, not its send
MAX_LEAD = 1.0
MAX_RETRY_AFTER = 300.0  # a longer Retry-After is cut to this
#: the last stretch of a wait for a slot is spent yielding to the event loop rather than in a
#: timer: asyncio's timers fire up to a millisecond late (epoll counts whole milliseconds), and
#: a millisecond late per request is 2% of a 20 requests/s budget
SPIN = 0.001
#: the paced rate after a 429 episode, as a share of the rate before it...
DECREASE = 0.9
#: ...or after an episode that came before the previous cut had a calm stretch (the cut was
#: not enough: the real limit is well below), so a large mismatch settles in a few episodes
STEEP_DECREASE = 0.7
#: added back after each calm stretch, as a share of the configured (paced) rate
INCREASE = 0.03
#: a calm stretch: this many periods' worth of successes in a row at the configured rate...
CALM_PERIODS = 2
#: ...and at least this many
CALM_MIN = 20
#: the paced rate never falls below this share of the configured one: 429s that come whatever
#: the rate (a storm, another client on the credential) must not slow a run to a crawl, and a
#: vendor that allows less than a quarter of its documented rate is a configuration to fix
#: (the run warns), not one to adapt to
FLOOR = 0.25
#: calm stretches climb back to this share of the rate that drew the latest 429 episode...
BELOW = 0.97
#: ...and hold there for this many calm stretches before probing one INCREASE higher
PROBE_AFTER = 8
#: a shared budget's slot is asked for at least LEAD_TRIPS of the reservation's recent round
#: trips ahead (seconds), within these bounds: the reply must come back before the slot, and
#: every millisecond more is added to each request of a stream that pages one request at a
#: time (a round trip to Postgres is about 0.3 ms when idle, a few ms on a loaded machine;
#: a fixed 10 ms lead cost Actito's 100 requests/s a quarter of its rate: 0.73)
MIN_LEAD = 0.001
MAX_LEAD_RESERVE = 0.010
LEAD_TRIPS = 3.0
#: the weight of the latest round trip in the running estimate (and a slower trip counts at
#: once: the estimate follows a loaded machine up at once and down slowly)
TRIP_WEIGHT = 0.2
#: a request that reaches its reserved slot later than this (seconds) gives the slot up and
#: reserves another: the next process's slot is one interval after the reserved one, and a
#: token bucket without burst allows no gap shorter than its interval (the 3% headroom leaves
#: 6 ms at 5 requests/s)
LATE = 0.002
#: reservations one request makes at most before it leaves anyway
MAX_RESERVATIONS = 4
#: the first backoff after a 429 without Retry-After, as a share of the vendor's period: long
#: enough for a token bucket or a sliding window to let one more request in, doubled for each
#: 429 in a row (a fixed window's boundary, a vendor that means it)
FIRST_BACKOFF = 0.15


def _retrieve(task: asyncio.Task[tuple[float, Slot | None]]) -> None:
    """Mark a reservation's failure as seen: a request that never left does not await it (the
    one that does gets the same error)."""
    if not task.cancelled():
        task.exception()


class Ticket:
    """A request's place in the pacing: its send time (inf until its headers leave), whether
    it is settled (it left, or gave up without leaving), and the shared budget's slot asked
    for when it was admitted."""

    __slots__ = ("_settled", "reservation", "sent_at")

    def __init__(self) -> None:
        self.sent_at = math.inf
        self._settled = asyncio.Event()
        #: the reservation made at admission (a shared budget only), taken by `leave`
        self.reservation: asyncio.Task[tuple[float, Slot | None]] | None = None

    @property
    def is_settled(self) -> bool:
        return self._settled.is_set()

    def settle(self, sent_at: float = math.inf) -> None:
        self.sent_at = sent_at
        self._settled.set()

    async def settled(self) -> None:
        await self._settled.wait()


@dataclass(frozen=True)
class Adapted:
    """What a 429 did to the gate: the pause it caused, and the new paced rate if it changed."""

    pause: float
    rate: float | None  # requests per second now paced, when this 429 changed it


class CredentialGate:
    """Paces every request made with one credential, pauses them all after a 429, and adapts
    the paced rate to what the vendor accepts."""

    def __init__(
        self,
        rate: float,
        headroom: float = 0.97,
        *,
        period: float = 1.0,
        max_in_flight: int | None = None,
        deadline: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        #: the most requests per second this gate sends: the configured rate times headroom
        self.ceiling = rate * headroom / period
        #: requests per second paced now (lowered by 429 episodes, raised by calm stretches)
        self.rate = self.ceiling
        self.period = period
        self.deadline = deadline
        #: successes in a row that make a calm stretch: about two periods at the ceiling, so a
        #: stretch spans a whole window of a fixed-window vendor even when its real limit is
        #: half the configured one (one window's worth proves nothing there: a full window is
        #: exactly what draws the next 429)
        self.calm = max(CALM_MIN, math.ceil(CALM_PERIODS * rate * headroom))
        # a vendor cap on concurrent requests (Actito: 5 per licence, answered with 429)
        self._in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._max_in_flight = max_in_flight or 0
        self._turn = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self._clock = clock
        self._sleep = sleep
        # an injected sleep (a test's fake clock) is exact: nothing to make up for
        self._spin = SPIN if sleep is asyncio.sleep else 0.0
        self._rng = rng or random.Random()
        self._last: Ticket | None = None  # the latest admission
        self._left_at = -math.inf  # when the latest request left
        self._paused_until = 0.0  # clock() value before which nobody may send
        self._consecutive_429 = 0  # drives the backoff when no Retry-After comes
        self._episode = False  # a 429 came since the last success
        self._successes = 0  # since the paced rate last changed, without a 429
        self._drew_429 = math.inf  # the paced rate when the latest 429 episode began
        self._held = 0  # calm stretches spent just below that rate
        self._calm_since_cut = False  # a calm stretch has passed since the latest cut
        self._progress_at: float | None = None  # the latest success, or the first admission
        #: the credential's budget shared with other processes (syncer.budget), when attached
        self._budget: SharedBudget | None = None
        self._rate_changed = False  # the paced rate moved here since the last reservation
        self._trip = MAX_LEAD_RESERVE / LEAD_TRIPS  # the reservation's recent round trip (s)
        self._rate_moves = 0  # times the paced rate moved here (a reservation in flight while
        # it moves must not put the old rate back)
        self._background: set[asyncio.Task[None]] = set()

    @property
    def interval(self) -> float:
        """Seconds between two sends at the paced rate."""
        return 1.0 / self.rate

    def clock(self) -> float:
        return self._clock()

    def share(self, budget: SharedBudget) -> None:
        """Pace this credential with every other process too (syncer.budget): each request
        reserves its slot in the shared budget before it leaves."""
        if self._budget is None or not self._budget.usable:
            self._budget = budget

    async def acquire(self) -> Ticket:
        """Admit the next request: wait until the previous one has left (or given up), the
        credential's pause is over and its slot is near. The request then waits for the exact
        slot in `leave`, called right before its headers go (so the time aiohttp takes to
        hand it to a connection is spent inside the interval, not added to it); `release` it
        in any case when it is done."""
        async with self._turn:
            last = self._last
            if last is not None:
                await last.settled()  # the spacing runs from its real send time
            while True:
                now = self._clock()
                lead = min(self.interval, MAX_LEAD)
                ready = max(self._paused_until, self._slot() - lead)
                if ready <= now:
                    break
                await self._sleep(ready - now)
            if self._progress_at is None:
                self._progress_at = now
            ticket = self._last = Ticket()
            budget = self._budget
            if budget is not None and budget.usable:
                # reserved now, about an interval before the slot: the round trip runs while
                # the request waits for a concurrency slot and a connection, so its reply is
                # back before the slot even at 100 requests/s (asked for in `leave`, the
                # reply's lead came on top of the interval: 0.73 of Actito's rate)
                ticket.reservation = asyncio.ensure_future(self._reserve())
                ticket.reservation.add_done_callback(_retrieve)
            return ticket

    async def leave(self, ticket: Ticket) -> None:
        """Wait for the admitted request's slot (and any pause begun since), then stamp its
        send time: call right before its headers go (aiohttp's on_request_headers_sent)."""
        if ticket.is_settled:
            return  # a redirect of a request that has left already
        missed: Slot | None = None
        for attempt in range(MAX_RESERVATIONS):
            early, ticket.reservation = ticket.reservation, None
            shared, missed = await (early if early is not None else self._reserve(missed))
            while True:
                now = self._clock()
                slot = max(self._paused_until, self._slot(), shared)
                if slot <= now:
                    break
                wait = slot - now
                await self._sleep(wait - self._spin if wait > self._spin else 0.0)
            if shared == -math.inf or now - shared <= LATE or attempt == MAX_RESERVATIONS - 1:
                break
            # too late for the slot it reserved (the reply came late, the loop was busy, a pause
            # began): another process sends one interval after that slot, so sending now would
            # come too close to it; move the slot if none was handed out after it, else give
            # it up and take the next free one
            log.debug("http.slot_missed", late_ms=round((now - shared) * 1000, 1))
        self._left_at = now
        ticket.settle(now)

    async def _reserve(self, missed: Slot | None = None) -> tuple[float, Slot | None]:
        """The slot the shared budget gives this request, on this gate's clock (-inf without
        one), and the reservation; the budget's rate becomes this gate's (another process may
        have adapted it). `missed`: the slot this request reached too late, moved if it can."""
        budget = self._budget
        if budget is None or not budget.usable:
            return -math.inf, None
        # never sooner than the reply can come back: a slot that has passed when the answer
        # arrives would be missed
        earliest = max(self._paused_until, self._slot()) - self._clock()
        lead = min(MAX_LEAD_RESERVE, max(MIN_LEAD, LEAD_TRIPS * self._trip))
        earliest = max(earliest, lead)
        changed, self._rate_changed = self._rate_changed, False
        moves = self._rate_moves
        asked = self._clock()
        slot = None
        if missed is not None and missed.token is not None and not changed:
            slot = await budget.store.move(budget.credential, missed.token, max(0.0, earliest))
        if slot is None:
            slot = await budget.store.reserve(
                budget.credential,
                budget.label,
                self.rate,
                max(0.0, earliest),
                changed,
                self.ceiling,
            )
        if slot.rate != self.rate and moves == self._rate_moves:
            self.rate = slot.rate  # another process adapted the credential's rate
        # the store turns the slot into this process's clock (budget.DatabaseClock); a store
        # without a clock of its own (a test's) counts from the middle of the round trip: from
        # the answer, every request would leave late by the reply's trip (0.94 of the rate
        # instead of 0.97, measured). This process's own spacing (`_slot`) holds either way.
        answered = self._clock()
        trip = answered - asked
        self._trip = max(trip, self._trip + TRIP_WEIGHT * (trip - self._trip))
        if slot.at is not None:
            return slot.at, slot  # the store's filtered reading of the database's clock
        return (asked + answered) / 2 + slot.wait, slot

    def release(self, ticket: Ticket) -> None:
        """The request is done: if it never left, the next one may go (spaced from the last
        request that did)."""
        if not ticket.is_settled:
            ticket.settle()

    def _slot(self) -> float:
        """When the next request may leave: one interval after the previous one really left.

        Never sooner, not even to make up for a request that left late: a token bucket without
        burst has a token for each request only if no two arrive closer together than the
        vendor's own interval, and the headroom is all the margin left for the jitter of the
        network and of the vendor's clock.
        """
        return self._left_at + self.interval

    @contextlib.asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """Hold one of the credential's concurrent-request slots, where the vendor caps them:
        in this process, and with a shared budget, among every process of the credential."""
        if self._in_flight is None:
            yield
            return
        async with self._in_flight:
            budget = self._budget
            if budget is None or not budget.usable:
                yield
                return
            slot = await budget.take_slot(self._max_in_flight)
            try:
                yield
            finally:
                linger = 2 * self.interval
                budget.give_slot(slot, min(SLOT_LINGER_MAX, max(SLOT_LINGER_MIN, linger)))

    def limited(self, retry_after: float | None) -> Adapted:
        """A 429: pause every request of the credential (Retry-After, else a backoff that
        doubles with each 429 in a row), and slow down on the first 429 of an episode."""
        self._consecutive_429 += 1
        self._successes = 0
        if retry_after is None:
            first = FIRST_BACKOFF * self.period
            wait = min(MAX_PAUSE, first * 2.0 ** (self._consecutive_429 - 1))
            wait += self._rng.uniform(0, first / 2)
        else:
            wait = min(retry_after, MAX_RETRY_AFTER)
        self._paused_until = max(self._paused_until, self._clock() + wait)
        changed = None
        if not self._episode:
            self._episode = True
            steep = self._drew_429 != math.inf and not self._calm_since_cut
            self._drew_429, self._held, self._calm_since_cut = self.rate, 0, False
            slower = max(self.ceiling * FLOOR, self.rate * (STEEP_DECREASE if steep else DECREASE))
            if slower < self.rate:
                self.rate = changed = slower
                self._rate_changed = True
                self._rate_moves += 1
                self._log_rate("429")
        self._share_pause(wait, changed)
        return Adapted(wait, changed)

    def _share_pause(self, wait: float, rate: float | None) -> None:
        """Tell the other processes of the credential to pause too (in the background: the
        caller is about to wait out the pause anyway)."""
        budget = self._budget
        if budget is None or not budget.usable:
            return
        task = asyncio.get_running_loop().create_task(
            budget.store.pause(budget.credential, wait, rate)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def succeeded(self) -> float | None:
        """A 2xx: progress; ends a 429 episode; after a calm stretch, a faster paced rate (the
        new rate is returned when it changed)."""
        self._progress_at = self._clock()
        self._consecutive_429 = 0
        self._episode = False
        if self.rate >= self.ceiling:
            return None
        self._successes += 1
        if self._successes < self.calm:
            return None
        self._successes = 0
        self._calm_since_cut = True
        step = INCREASE * self.ceiling
        cap = min(self.ceiling, self._drew_429 * BELOW)
        if self.rate >= cap:
            self._held += 1
            if self._held < PROBE_AFTER:
                return None
            self._held = 0  # probe: the rate that drew the 429 may have been bad luck
            self._drew_429 += step
            cap = min(self.ceiling, self._drew_429 * BELOW)
        faster = min(cap, self.rate + step)
        if faster <= self.rate:
            return None
        self.rate = faster
        self._rate_changed = True
        self._rate_moves += 1
        self._log_rate("calm")
        return self.rate

    def _log_rate(self, cause: str) -> None:
        """`http.rate_adapted`: the new paced rate, per period like the configuration."""
        emit = log.warning if cause == "429" else log.info
        emit(
            "http.rate_adapted",
            cause=cause,
            rate=round(self.rate * self.period, 3),
            ceiling=round(self.ceiling * self.period, 3),
            period=self.period,
        )

    def without_progress(self) -> float:
        """Seconds since the credential's latest success (or its first request)."""
        if self._progress_at is None:
            return 0.0
        return self._clock() - self._progress_at


class RetryBudget:
    """The retry time one request has used, 429 stretches left out (they are the gate's
    business: a 429 never costs a request its retries)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self._clock = clock
        self._started = clock()
        self._excluded = 0.0

    def exclude(self, seconds: float) -> None:
        """Leave out time spent waiting on 429s."""
        self._excluded += seconds

    def spent(self) -> float:
        return self._clock() - self._started - self._excluded

    def exhausted(self) -> bool:
        return self.spent() >= self.seconds
