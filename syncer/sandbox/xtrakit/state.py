"""`XtraKitSandbox`: one running XtraKit sandbox's config, data and request log.

For example:

    sb = create_app(XtraKitConfig(customers=500))[XTRAKIT_KEY]
    sb.config.rate_limit_per_minute = 0  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.max_in_window("sandbox-xtrakit-key") <= 60
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from syncer.sandbox.ratelimit import Clock
from syncer.sandbox.state import RequestLog, RequestLogEntry
from syncer.sandbox.xtrakit.config import XtraKitConfig
from syncer.sandbox.xtrakit.data import COLLECTIONS, Dataset, GenerationResult, Table
from syncer.sandbox.xtrakit.ratelimit import Throttle

#: the rate-limit window: Laravel's `throttle:api` counts per minute
WINDOW = 60.0


class XtraKitSandbox(RequestLog):
    """The live state behind one XtraKit sandbox app."""

    def __init__(self, config: XtraKitConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.throttle = Throttle(window=WINDOW, clock=clock)
        self.request_log: list[RequestLogEntry] = []
        self.data = Dataset.build(config)

    def table(self, collection: str) -> Table:
        """The live table of `collection` (customers, items, categories or sales)."""
        try:
            return self.data.tables[collection]
        except KeyError:
            known = ", ".join(COLLECTIONS)
            raise KeyError(f"unknown collection {collection!r}: use one of {known}") from None

    def records(self, collection: str) -> list[dict[str, Any]]:
        """The live records of `collection` exactly as served, by id; fresh copies."""
        return [dict(record) for record in self.table(collection).ordered()]

    def generation(
        self, change_pct: float = 1.0, delete_pct: float = 0.1, insert_pct: float = 0.1
    ) -> GenerationResult:
        """Move every collection on by one deterministic generation (`Dataset.generation`)."""
        return self.data.generation(change_pct, delete_pct, insert_pct)

    def max_in_window(self, token: str, window: float = WINDOW) -> int:
        """Most accepted (non-429) requests from `token` in any `window` seconds, from the log."""
        return self._max_accepted(token, window)

    def stats(self) -> dict[str, Any]:
        """Request counts per status, the busiest minute per key, live record counts."""
        tokens = sorted({e.token for e in self.request_log if e.token is not None})
        return self._log_stats() | {
            "max_in_window": {token: self.max_in_window(token) for token in tokens},
            "records": {name: len(table) for name, table in self.data.tables.items()},
            "generation": self.data.generation_number,
            "config": self.config.describe(),
        }


XTRAKIT_KEY = web.AppKey("xtrakit", XtraKitSandbox)
