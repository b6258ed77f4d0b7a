"""The Exto sandbox's fault switches (docs/sandbox.md "Fault switches"): the per-request fault mix,
the 429 storm and its Retry-After bookkeeping.

`FaultState` holds the two seeded RNGs and, per token, the Retry-After constraints the sandbox
has sent; the Exto middleware asks it, in arrival order, whether a request is stormed
(`storm`) and, once the rate limiter has accepted it, whether it fails and how (`fault`).
`fault_response` builds what a faulted request gets.

    faults = FaultState()
    faults.storm(config)  # None, or the Retry-After variant of a storm 429
    faults.fault(config)  # None, or one of config.fault_kinds
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

from aiohttp import web

from syncer.sandbox.exto.config import ExtoConfig

#: a request arriving this long (seconds) or less after the 429 that carried its Retry-After
#: was sent was already on its way: it is not an early request
IN_FLIGHT_GRACE = 0.05
#: the body of an "invalid_json" fault: the start of a page, then garbage (ASCII, so any client
#: fails in its JSON parser, not in a text decoder)
INVALID_JSON_BODY = b'{"rows": [{"_id": <<upstream garbage>> {]'
#: the body of an "html" fault (and of `html_next`): a maintenance page, as a load balancer or a
#: vendor's status page serves it with 200
MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n"
    b'<html lang="en">\n'
    b'<head><meta charset="utf-8"><title>Exto is down for maintenance</title></head>\n'
    b"<body><h1>We&#39;ll be back soon</h1>\n"
    b"<p>Exto is undergoing scheduled maintenance. Please try again in a few minutes.</p>\n"
    b"</body>\n</html>\n"
)
#: the body a "truncated" write is cut from (the write is not applied, so it has no true answer):
#: Exto's upsert answer with nothing done
WRITE_PLACEHOLDER_BODY = b'{"insertedIds":[],"insertedCount":0,"updatedCount":0}'
#: statuses of the status-code fault kinds, and their error summaries
FAULT_STATUSES = {"500": "Service Exception", "502": "Bad Gateway", "503": "Service Unavailable"}

RetryAfterKind = Literal["delta", "date", "none"]


@dataclass(frozen=True)
class StormAnswer:
    """How one storm 429 names its Retry-After: `delta` (`seconds`, 1 or 2), `date` (an
    HTTP-date 1 to 2 s ahead) or `none` (no header)."""

    kind: RetryAfterKind
    seconds: int = 0

    def header(self, wall: float) -> tuple[str | None, float]:
        """The Retry-After value for a 429 sent at wall-clock time `wall` (None: no header), and
        how many seconds after `wall` it allows the next request (0: no constraint).

        An HTTP-date has whole seconds: the date written is the first whole second at least 1 s
        after `wall`, and the constraint is computed from that date, not from `wall + 1`.
        """
        if self.kind == "delta":
            return str(self.seconds), float(self.seconds)
        if self.kind == "date":
            written = math.ceil(wall + 1)
            return formatdate(written, usegmt=True), written - wall
        return None, 0.0


@dataclass
class RetryMark:
    """One Retry-After the sandbox sent: when (sandbox clock) and the instant it named."""

    sent: float
    not_before: float


class FaultState:
    """The fault mix's and the storm's RNGs, and the Retry-After constraints sent per token."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self._epoch = -1
        self._fault_rng = random.Random()
        self._storm_rng = random.Random()
        #: token -> Retry-After constraints not yet expired
        self._marks: dict[str, list[RetryMark]] = {}
        #: token -> requests that arrived early (IN_FLIGHT_GRACE after a Retry-After was sent
        #: and before the instant it named)
        self.early: Counter[str] = Counter()

    def _rngs(self, config: ExtoConfig) -> tuple[random.Random, random.Random]:
        """The fault and storm RNGs, re-seeded when a fault knob has been set since last time."""
        if config.fault_epoch != self._epoch:
            self._epoch = config.fault_epoch
            self._fault_rng = random.Random(f"{config.fault_seed}:faults")
            self._storm_rng = random.Random(f"{config.fault_seed}:storm")
        return self._fault_rng, self._storm_rng

    def storm(self, config: ExtoConfig) -> StormAnswer | None:
        """Whether this authenticated data request is a storm 429, and its Retry-After variant:
        delta 50% (1 or 2 s, even odds), HTTP-date 25%, none 25%."""
        _, rng = self._rngs(config)
        if config.storm_rate <= 0 or rng.random() >= config.storm_rate:
            return None
        roll = rng.random()
        if roll < 0.5:
            return StormAnswer("delta", rng.choice((1, 2)))
        return StormAnswer("date" if roll < 0.75 else "none")

    def fault(self, config: ExtoConfig) -> str | None:
        """Whether this accepted data request fails (probability `fault_rate`) and how (uniform
        over `fault_kinds`)."""
        rng, _ = self._rngs(config)
        if config.fault_rate <= 0 or not config.fault_kinds:
            return None
        if rng.random() >= config.fault_rate:
            return None
        return rng.choice(config.fault_kinds)

    def arrived(self, token: str, at: float) -> None:
        """Count the request from `token` arriving at `at` if it breaks a Retry-After sent to
        that token; forget the constraints that have expired."""
        marks = self._marks.get(token)
        if not marks:
            return
        live = [mark for mark in marks if mark.not_before > at]
        self._marks[token] = live
        if any(mark.sent + IN_FLIGHT_GRACE < at for mark in live):
            self.early[token] += 1

    def retry_after_sent(self, token: str, sent: float, delay: float) -> None:
        """Note a 429 sent to `token` at `sent` (sandbox clock) allowing no request for `delay`
        seconds."""
        if delay > 0:
            self._marks.setdefault(token, []).append(RetryMark(sent, sent + delay))


def fault_response(kind: str, normal: web.Response | None) -> web.Response:
    """What a "truncated", "invalid_json" or "html" fault answers: 200 with a body no JSON parser
    accepts (`application/json`, or `text/html` for the maintenance page). `normal` is the answer
    the request would have had (None for a write, which is not applied: its body is
    WRITE_PLACEHOLDER_BODY)."""
    if kind == "html":
        return web.Response(body=MAINTENANCE_PAGE, status=200, content_type="text/html")
    if kind == "invalid_json":
        body = INVALID_JSON_BODY
    else:
        whole = normal.body if normal is not None else WRITE_PLACEHOLDER_BODY
        if not isinstance(whole, bytes):
            whole = b""
        body = whole[: len(whole) // 2]
    return web.Response(body=body, status=200, content_type="application/json")
