"""`XtraKitSandbox`: one running XtraKit sandbox's config, data, request log and write ledger.

For example:

    sb = create_app(XtraKitConfig(customers=500))[XTRAKIT_KEY]
    sb.config.rate_limit = 0  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.max_in_window("sandbox-xtrakit-key") <= 60
    assert [w.operation for w in sb.ledger] == ["customer.add"]  # after one POST /customers/add
"""

from __future__ import annotations

import random
import time
from typing import Any

from aiohttp import web

from syncer.sandbox.common.ledger import WriteLedger
from syncer.sandbox.common.ratelimit import Clock
from syncer.sandbox.common.requestlog import RequestLog, RequestLogEntry
from syncer.sandbox.xtrakit.config import XtraKitConfig
from syncer.sandbox.xtrakit.data import (
    COLLECTIONS,
    GENERATION_EPOCH,
    Generation,
    Table,
    XtraKitDataset,
)
from syncer.sandbox.xtrakit.ledger import AppliedWrite
from syncer.sandbox.xtrakit.limits import Throttle
from syncer.sandbox.xtrakit.records import DAY

#: the rate-limit window: Laravel's `throttle:api` counts per minute
WINDOW = 60.0


class XtraKitSandbox(RequestLog, WriteLedger[AppliedWrite]):
    """The live state behind one XtraKit sandbox app."""

    def __init__(self, config: XtraKitConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.throttle = Throttle(window=WINDOW, clock=clock)
        self.request_log: list[RequestLogEntry] = []
        self.data = XtraKitDataset.build(config)
        #: every write that changed the data, oldest first
        self.ledger: list[AppliedWrite] = []
        #: draws the item codes of added items (deterministic for a given sequence of writes)
        self.write_rng = random.Random(f"{config.seed}:xtrakit:writes")
        self._started = clock()

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
    ) -> Generation:
        """Move every collection on by one deterministic generation (`XtraKitDataset`)."""
        return self.data.generation(change_pct, delete_pct, insert_pct)

    def write_time(self) -> int:
        """Unix seconds a write stamps on `created_at`/`updated_at` now: the current generation's
        instant (2025-07-01 00:00:00 + g days) plus whole clock seconds since the sandbox began."""
        return (
            GENERATION_EPOCH + self.data.generation_number * DAY + int(self.clock() - self._started)
        )

    def applied(self, method: str, path: str, operation: str, key: str) -> bool:
        """Enter a write that changed the data in the ledger; True when the
        `write_fail_after_apply` knob says to answer it with a 500 (the knob counts down)."""
        self.ledger.append(AppliedWrite(self.clock(), method, path, operation, key))
        if self.config.write_fail_after_apply > 0:
            self.config.write_fail_after_apply -= 1
            return True
        return False

    def max_in_window(self, token: str, window: float = WINDOW) -> int:
        """Most accepted (non-429) requests from `token` in any `window` seconds, from the log."""
        return self._max_accepted(token, window)

    def stats(self) -> dict[str, Any]:
        """Request counts per status, busiest minute per key, live record counts, ledger size."""
        tokens = sorted({e.token for e in self.request_log if e.token is not None})
        return self._log_stats() | {
            "max_in_window": {token: self.max_in_window(token) for token in tokens},
            "records": {name: len(table) for name, table in self.data.tables.items()},
            "generation": self.data.generation_number,
            "ledger": len(self.ledger),
            "config": self.config.describe(),
        }


XTRAKIT_KEY = web.AppKey("xtrakit", XtraKitSandbox)
