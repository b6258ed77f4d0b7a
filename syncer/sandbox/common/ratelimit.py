"""The sandboxes' rate limiters: a per-key admission rule of one of three common kinds, over an
injectable clock, shared by the Exto, XtraKit and Ioto sandboxes (Actito slows calls instead of
refusing them: `actito.limits`).

Kinds (`limiter` knob), for `limit` requests per `window` seconds:

- `sliding`: a request at time t is admitted when fewer than `limit` requests from the same key
  were admitted in the half-open window (t - window, t];
- `fixed`: windows are fixed spans of the clock, [k * window, (k + 1) * window); a request is
  admitted when fewer than `limit` were admitted in its span (so up to 2 * limit may pass
  around a boundary);
- `token_bucket`: a bucket of `burst` tokens (`limiter_burst`, default 1), full at first, that
  refills at limit / window tokens a second; a request takes a token, or is refused.

`limit_factor` (default 1.0) makes the vendor enforce a share of its documented rate: the
window lasts window / factor (sliding, fixed), or the bucket refills at factor * limit / window.
Refused requests are never recorded, so a client hammering through 429s does not extend its own
ban (our assumption; Exto says only that requests "may be temporarily blocked until the time
window resets").

    limiter = Limiter(clock=fake_clock)
    rule = Rule(limit=3, window=1.0)  # sliding, as Exto documents it
    limiter.admit("token", rule)  # True three times, then False until the clock moves 1 s
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
LimiterKind = Literal["sliding", "fixed", "token_bucket"]
LIMITER_KINDS: tuple[LimiterKind, ...] = ("sliding", "fixed", "token_bucket")
#: a refill this close to a whole token counts as one (float sums of 1/rate steps)
_EPSILON = 1e-9


@dataclass(frozen=True)
class Rule:
    """What a vendor enforces: `limit` requests per `window` seconds (0 = unlimited), counted
    the `kind` way, at `factor` of that rate, with `burst` tokens for a token bucket."""

    limit: int
    window: float
    kind: LimiterKind = "sliding"
    burst: int = 1
    factor: float = 1.0

    @property
    def span(self) -> float:
        """The window the vendor really counts over (sliding, fixed)."""
        return self.window / self.factor

    @property
    def refill(self) -> float:
        """Tokens per second (token bucket)."""
        return self.limit * self.factor / self.window


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer to one request."""

    admitted: bool
    #: requests the key may still make at once (after this one, if admitted)
    remaining: int
    #: refused: seconds until a request would be admitted; admitted: 0
    retry_after: float


class _State:
    """One key's record under one rule (a changed rule starts a fresh record)."""

    __slots__ = ("count", "rule", "span_index", "times", "tokens", "updated")

    def __init__(self, rule: Rule, now: float) -> None:
        self.rule = rule
        self.times: deque[float] = deque()  # sliding: admitted times still in the window
        self.span_index = math.floor(now / rule.span) if rule.kind == "fixed" else 0
        self.count = 0  # fixed: admitted in the current span
        self.tokens = float(rule.burst)  # token bucket
        self.updated = now


class Limiter:
    """Per-key admission control by a `Rule`, read on every request (so knobs change live)."""

    __slots__ = ("_keys", "clock")

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._keys: dict[str, _State] = {}

    def admit(self, key: str, rule: Rule, now: float | None = None) -> bool:
        """Record and admit a request now, unless the rule refuses it; see `check`."""
        return self.check(key, rule, now).admitted

    def check(self, key: str, rule: Rule, now: float | None = None) -> Verdict:
        """Record and admit a request from `key` now, unless `rule` refuses it (never recorded).

        `now` defaults to the clock; pass the reading already logged for the request so the log
        and the limiter agree to the microsecond. A limit of 0 admits everything, unrecorded.
        """
        if rule.limit <= 0:
            return Verdict(True, 0, 0.0)
        now = self.clock() if now is None else now
        state = self._keys.get(key)
        if state is None or state.rule != rule:
            state = self._keys[key] = _State(rule, now)
        if rule.kind == "fixed":
            return _fixed(state, rule, now)
        if rule.kind == "token_bucket":
            return _bucket(state, rule, now)
        return _sliding(state, rule, now)


def _sliding(state: _State, rule: Rule, now: float) -> Verdict:
    times = state.times
    while times and times[0] <= now - rule.span:
        times.popleft()
    if len(times) >= rule.limit:
        return Verdict(False, 0, times[0] + rule.span - now)
    times.append(now)
    return Verdict(True, rule.limit - len(times), 0.0)


def _fixed(state: _State, rule: Rule, now: float) -> Verdict:
    index = math.floor(now / rule.span)
    if index != state.span_index:
        state.span_index, state.count = index, 0
    if state.count >= rule.limit:
        return Verdict(False, 0, (index + 1) * rule.span - now)
    state.count += 1
    return Verdict(True, rule.limit - state.count, 0.0)


def _bucket(state: _State, rule: Rule, now: float) -> Verdict:
    elapsed = max(0.0, now - state.updated)
    state.tokens = min(float(rule.burst), state.tokens + elapsed * rule.refill)
    state.updated = now
    if state.tokens + _EPSILON < 1.0:
        return Verdict(False, 0, (1.0 - state.tokens) / rule.refill)
    state.tokens = max(0.0, state.tokens - 1.0)
    return Verdict(True, math.floor(state.tokens + _EPSILON), 0.0)


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most `times` (sorted ascending) inside any half-open span of `window` seconds.

    Uses the sliding limiter's own rule, so for requests it admitted it never exceeds the limit.
    """
    best = 0
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def check_limiter(name: str, value: object) -> object:
    """A `limiter` knob value: one of LIMITER_KINDS."""
    if value not in LIMITER_KINDS:
        raise ValueError(f"{name} must be one of {', '.join(LIMITER_KINDS)}")
    return value


def check_burst(name: str, value: object) -> object:
    """A `limiter_burst` knob value: a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be an integer >= 1")
    if not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be an integer >= 1")
    return int(value)


def check_factor(name: str, value: object) -> object:
    """A `limit_factor` knob value: a number above 0 and at most 10."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not 0 < value <= 10:  # NaN too
        raise ValueError(f"{name} must be above 0 and at most 10")
    return float(value)


#: the limiter knobs every sandbox has, spelled the same, and how each is checked
LIMITER_KNOBS: dict[str, Callable[[str, object], object]] = {
    "limiter": check_limiter,
    "limiter_burst": check_burst,
    "limit_factor": check_factor,
}


#: the runtime knobs of `LimiterKnobs`, and their types (each vendor's RUNTIME_KNOBS holds them)
LIMITER_RUNTIME: Mapping[str, type] = {
    "rate_limit": int,
    "limiter": str,
    "limiter_burst": int,
    "limit_factor": float,
}


@dataclass
class LimiterKnobs:
    """The rate-limit knobs of every vendor's sandbox config (a base): each vendor sets its own
    `rate_limit` default and says over what window it counts."""

    #: requests per window (the vendor's); 0 = unlimited
    rate_limit: int = 0
    #: how `rate_limit` is counted: "sliding", "fixed" (windows on the clock) or "token_bucket"
    #: (`limiter_burst` tokens, refilled at `rate_limit` a window); the vendor really enforces
    #: `limit_factor` of `rate_limit` (`Rule`)
    limiter: LimiterKind = "sliding"
    limiter_burst: int = 1
    limit_factor: float = 1.0

    def limit_rule(self, window: float) -> Rule:
        """The rule the knobs make now, for `window` seconds."""
        return Rule(
            self.rate_limit,
            window,
            self.limiter,
            burst=self.limiter_burst,
            factor=self.limit_factor,
        )
