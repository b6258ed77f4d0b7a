"""The credential gate with an injected clock: even spacing counted from the send, pauses,
the paced rate's adaptation down and up, and progress for the no-progress deadline."""

from __future__ import annotations

import asyncio
import itertools
import math
import random

import pytest

from syncer import budget, pacing
from syncer.pacing import CredentialGate, RetryBudget


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def gate(rate: float, headroom: float = 1.0, **kwargs: object) -> tuple[CredentialGate, FakeTime]:
    t = FakeTime()
    made = CredentialGate(rate, headroom, clock=t.clock, sleep=t.sleep, **kwargs)  # type: ignore[arg-type]
    return made, t


async def send_now(g: CredentialGate, t: FakeTime) -> float:
    """Acquire, then leave as soon as the gate lets it; the send time."""
    ticket = await g.acquire()
    await g.leave(ticket)
    g.release(ticket)
    return t.now


async def test_requests_leave_one_interval_apart() -> None:
    """20 req/s at headroom 0.97: 200 sends, each 1/19.4 s after the one before, never a
    burst: no one-second window holds more than 20."""
    g, t = gate(20, 0.97)
    sent = [await send_now(g, t) for _ in range(200)]
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) == pytest.approx(1 / 19.4) and max(gaps) == pytest.approx(1 / 19.4)
    assert max(sum(1 for x in sent if s <= x < s + 1.0) for s in sent) == 20


async def test_the_interval_runs_from_the_real_send_time() -> None:
    """A request admitted but sent late (it waited for a connection) pushes the next one back:
    the next is admitted only once the first has left, and leaves one interval after it."""
    g, t = gate(2)
    first = await g.acquire()
    waiting = asyncio.ensure_future(g.acquire())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not waiting.done()  # the first has not left yet
    t.now += 0.3
    await g.leave(first)
    assert t.now == pytest.approx(100.3)  # the first's own slot had long come
    second = await waiting
    await g.leave(second)
    assert t.now == pytest.approx(100.8)  # 0.5 s after the first left
    assert second.sent_at == pytest.approx(100.8)


async def test_admission_comes_a_little_before_the_slot() -> None:
    """The next request is admitted as soon as the previous one left, up to MAX_LEAD before
    its slot, so handing it to a connection takes none of the interval; it leaves exactly on
    the slot."""
    g, t = gate(2)
    await send_now(g, t)
    ticket = await g.acquire()
    assert t.now == 100.0
    await g.leave(ticket)
    assert t.now == pytest.approx(100.5)
    g.release(ticket)
    slow, t = gate(0.25)  # one every 4 s
    await send_now(slow, t)
    ticket = await slow.acquire()
    assert t.now == pytest.approx(104.0 - pacing.MAX_LEAD)


async def test_a_request_that_never_left_does_not_hold_up_the_next() -> None:
    """Released without leaving (its connection failed): the next goes one interval after the
    last request that did leave, not after the failure."""
    g, t = gate(2)
    await send_now(g, t)
    failed = await g.acquire()
    t.now += 3.0
    g.release(failed)
    assert failed.sent_at == math.inf
    failed_at = t.now
    assert await send_now(g, t) == failed_at


async def test_a_late_caller_gets_no_burst() -> None:
    """After an idle spell the next request goes at once, and the one after it an interval
    later: lost time is never caught up by sending faster than the rate."""
    g, t = gate(3)
    await send_now(g, t)
    t.now += 5.0
    a = await send_now(g, t)
    b = await send_now(g, t)
    assert a == 105.0 and b == pytest.approx(105.0 + 1 / 3)


async def test_rates_below_one_per_second() -> None:
    g, t = gate(0.5)
    await send_now(g, t)
    assert await send_now(g, t) == 102.0


async def test_per_minute_limits_are_spaced_over_the_minute() -> None:
    """100 per 60 s: one request every 0.6 s, not 100 at once."""
    g, t = gate(100, period=60.0)
    first = await send_now(g, t)
    assert await send_now(g, t) - first == pytest.approx(0.6)


async def test_a_pause_holds_every_request_for_retry_after() -> None:
    g, t = gate(1000)
    assert g.limited(2.5).pause == 2.5
    await send_now(g, t)
    assert t.now >= 102.5


async def test_backoff_without_retry_after_doubles_with_each_429_in_a_row() -> None:
    g, _t = gate(1000, rng=random.Random(1))
    first = pacing.FIRST_BACKOFF
    waits = [g.limited(None).pause for _ in range(12)]
    assert first <= waits[0] < 1.5 * first and 2 * first <= waits[1] < 2.5 * first
    assert waits[-1] <= pacing.MAX_PAUSE + first
    g.succeeded()
    assert g.limited(None).pause < 1.5 * first


async def test_a_429_episode_slows_the_rate_once() -> None:
    """The first 429 after a success cuts the paced rate; more 429s before the next success
    belong to the same episode and cut nothing more."""
    g, _ = gate(20, 0.97)
    assert g.limited(None).rate == pytest.approx(19.4 * pacing.DECREASE)
    assert g.limited(None).rate is None and g.limited(1.0).rate is None
    assert g.rate == pytest.approx(19.4 * pacing.DECREASE)
    g.succeeded()
    g.limited(None)  # no calm stretch since the cut: it was not enough, a steeper one
    assert g.rate == pytest.approx(19.4 * pacing.DECREASE * pacing.STEEP_DECREASE)


async def test_an_episode_after_a_calm_stretch_cuts_gently() -> None:
    g, _ = gate(20, 0.97)
    g.limited(None)
    for _ in range(g.calm):
        g.succeeded()
    before = g.rate
    g.limited(None)
    assert g.rate == pytest.approx(before * pacing.DECREASE)


async def test_the_rate_never_falls_below_its_floor() -> None:
    g, _ = gate(10)
    for _ in range(200):
        g.limited(None)
        g.succeeded()
    assert g.rate == pytest.approx(10 * pacing.FLOOR)


async def test_calm_stretches_raise_the_rate_back_to_the_configured_one_and_no_further() -> None:
    g, _t = gate(20, 0.97)
    g.limited(None)
    slow = g.rate
    for _ in range(g.calm - 1):
        assert g.succeeded() is None
    assert g.succeeded() == pytest.approx(slow + pacing.INCREASE * 19.4)
    for _ in range(100 * g.calm):
        g.succeeded()
    assert g.rate == pytest.approx(19.4)


async def test_a_429_restarts_the_calm_stretch() -> None:
    g, _ = gate(20, 0.97)
    g.limited(None)
    g.succeeded()
    slow = g.rate
    for _ in range(g.calm - 2):
        g.succeeded()
    g.limited(None)  # a new episode: slower again, and the stretch starts over
    slower = g.rate
    assert slower < slow
    for _ in range(g.calm - 1):
        g.succeeded()
    assert g.rate == slower


async def test_the_slower_rate_spaces_the_requests() -> None:
    g, t = gate(10)
    g.limited(0.0)
    first = await send_now(g, t)
    assert await send_now(g, t) - first == pytest.approx(1 / (10 * pacing.DECREASE))


async def test_progress_is_the_latest_success() -> None:
    g, t = gate(1000, deadline=60.0)
    assert g.without_progress() == 0.0
    await send_now(g, t)
    t.now += 30
    assert g.without_progress() == 30
    g.succeeded()
    t.now += 5
    assert g.without_progress() == 5
    g.limited(None)
    t.now += 100
    assert g.without_progress() == 105 and g.without_progress() >= g.deadline


def test_the_retry_budget_leaves_429_stretches_out() -> None:
    t = FakeTime()
    budget = RetryBudget(10.0, t.clock)
    t.now += 8
    budget.exclude(5)
    assert budget.spent() == 3 and not budget.exhausted()
    t.now += 7
    assert budget.exhausted()


async def test_a_late_send_is_never_made_up_by_a_shorter_gap() -> None:
    """A request that left late (a busy loop) pushes the next one back by as much: no gap is
    ever shorter than the interval, so a token bucket without burst always has a token."""
    g, t = gate(20, 0.97)
    interval = 1 / 19.4
    first = await send_now(g, t)
    second = await g.acquire()
    t.now = first + interval + 0.005
    await g.leave(second)
    third = await send_now(g, t)
    assert third - (first + interval + 0.005) == pytest.approx(interval)


async def test_after_a_429_the_rate_holds_just_below_the_rate_that_drew_it() -> None:
    """The climb back stops at BELOW of the rate the 429 came at, holds there for PROBE_AFTER
    calm stretches, then probes one step higher."""
    g, _ = gate(20, 0.97)
    g.limited(None)
    held = 19.4 * pacing.BELOW
    for _ in range(10 * g.calm):
        g.succeeded()
    assert g.rate == pytest.approx(held)
    for _ in range(pacing.PROBE_AFTER * g.calm):
        g.succeeded()
    assert g.rate > held


class SlowStore:
    """A budget store whose reservation waits until released, answering the rate it held
    when it was asked (as the database would, before another process's change lands)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.closed = False
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()
        self.paused: list[tuple[float, float | None]] = []

    async def reserve(self, credential: str, label: str, rate: float, earliest: float,
                      changed: bool, ceiling: float) -> budget.Slot:  # fmt: skip
        held = rate if changed else self.rate
        self.asked.set()
        await self.answer.wait()
        self.rate = held
        return budget.Slot(held)

    async def pause(self, credential: str, seconds: float, rate: float | None) -> None:
        self.paused.append((seconds, rate))


async def test_a_429_during_a_reservation_is_not_undone_by_its_answer() -> None:
    """The shared rate a reservation brings back is adopted, except when this gate cut its own
    rate while the reservation was in flight: the old rate must not come back."""
    g, _ = gate(10)
    store = SlowStore(10.0)
    g.share(budget.SharedBudget(store, "c", "label"))  # type: ignore[arg-type]
    ticket = await g.acquire()
    leaving = asyncio.ensure_future(g.leave(ticket))
    await store.asked.wait()
    g.limited(None)  # a 429 of another request, while this one waits for its slot
    cut = g.rate
    assert cut == pytest.approx(9.0)
    store.answer.set()
    await leaving
    assert g.rate == cut
    await asyncio.sleep(0)  # the shared pause is written in the background
    assert store.paused and store.paused[0][1] == pytest.approx(9.0)
    g.release(ticket)
    ticket = await g.acquire()
    await g.leave(ticket)  # this gate's cut goes to the store with this reservation
    g.release(ticket)
    assert (g.rate, store.rate) == (pytest.approx(9.0), pytest.approx(9.0))
    # another process's cut is adopted when nothing moved here meanwhile
    store.rate = 5.0
    ticket = await g.acquire()
    await g.leave(ticket)
    assert g.rate == pytest.approx(5.0)


def test_the_database_clock_believes_the_shortest_recent_round_trip() -> None:
    """A reply that sat 12 ms in a busy process would move a midpoint by 6 ms; the estimate
    keeps the sample of the shortest trip, and forgets it once SAMPLES newer ones came."""
    clock = budget.DatabaseClock()
    assert not clock.known
    offset = 1_000.0  # the database's epoch reading minus this process's monotonic clock
    clock.add(10.0000, 10.0004, 10.0002 + offset)  # a 0.4 ms trip, symmetric
    clock.add(11.0000, 11.0124, 11.0002 + offset)  # the reply waited 12 ms
    assert clock.known
    assert clock.local(12.0 + offset) == pytest.approx(12.0, abs=1e-9)
    for n in range(budget.DatabaseClock.SAMPLES):
        clock.add(20.0 + n, 20.001 + n, 20.0005 + n + offset + 0.5)  # the clock stepped 0.5 s
    assert clock.local(30.0 + offset) == pytest.approx(29.5, abs=1e-9)
