"""The request log every vendor's sandbox keeps: one `RequestLogEntry` per data request, and the
counts and windows the stats routes and tests read from it (`RequestLog`, a mixin)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from syncer.sandbox.common.ratelimit import max_in_window


@dataclass(frozen=True)
class RequestLogEntry:
    """One request to a data or health route, as the sandbox saw it."""

    #: sandbox clock reading when the request arrived (the rate limiter's clock)
    at: float
    method: str
    #: the path as sent, including the `/data` prefix
    path: str
    query: dict[str, str]
    #: the bearer token presented, if any (health routes: None)
    token: str | None
    #: the status sent; 0 when no answer was sent (a "reset" fault, or a "timeout" fault whose
    #: client had gone when the stall ended)
    status: int
    #: the fault the Exto sandbox injected: a kind of `fault_kinds`, or "storm" for a storm 429;
    #: None otherwise (other vendors' sandboxes always None)
    fault: str | None = None


class RequestLog:
    """What every sandbox does with its request log; subclasses set `request_log` to a list."""

    #: every logged request, in arrival order
    request_log: list[RequestLogEntry]

    def log(self, entry: RequestLogEntry) -> None:
        self.request_log.append(entry)

    def count_status(self, status: int) -> int:
        """How many logged requests were answered with `status`."""
        return sum(1 for e in self.request_log if e.status == status)

    def reset_log(self) -> None:
        self.request_log.clear()

    def _log_stats(self) -> dict[str, Any]:
        """The head of the stats route: `{requests, by_status}` (request counts per status)."""
        by_status = Counter(e.status for e in self.request_log)
        return {
            "requests": len(self.request_log),
            "by_status": {str(status): n for status, n in sorted(by_status.items())},
        }

    def _max_accepted(self, token: str, window: float) -> int:
        """Most accepted (non-429) requests from `token` in any `window` seconds, from the log."""
        times = sorted(e.at for e in self.request_log if e.token == token and e.status != 429)
        return max_in_window(times, window)
