"""`ExtoSandbox`: one running Exto sandbox's config, data, request log and write ledger — the
handle tests hold.

For example:

    sb = create_app(ExtoConfig(master_records=500))[EXTO_KEY]
    sb.config.rate_limit = 0  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.max_in_window("sandbox-token") <= 3
    assert [w.operation for w in sb.ledger] == ["master.upsert"]  # after one upsert
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

from aiohttp import web

from syncer.sandbox.common.ledger import WriteLedger
from syncer.sandbox.common.ratelimit import Clock, Limiter, max_in_window
from syncer.sandbox.common.requestlog import RequestLog, RequestLogEntry
from syncer.sandbox.exto.collection import Collection
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.data import ExtoDataset, Generation
from syncer.sandbox.exto.faults import FaultState
from syncer.sandbox.exto.ledger import AppliedWrite


class ExtoSandbox(RequestLog, WriteLedger[AppliedWrite]):
    """The live state behind one sandbox app."""

    def __init__(self, config: ExtoConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.limiter = Limiter(clock=clock)
        self.request_log: list[RequestLogEntry] = []
        self.data = ExtoDataset.build(config)
        #: serialises reads, churn and writes of the data (scans and writes run in a thread)
        self.data_lock = asyncio.Lock()
        #: every applied write, oldest first
        self.ledger: list[AppliedWrite] = []
        #: the field types each collection's writes are checked against, learnt on first write
        self.field_types: dict[tuple[str, str], dict[str, str]] = {}
        #: the fault switches' RNGs and Retry-After bookkeeping (`faults`)
        self.faults = FaultState()
        #: the RNG of the paging lies' wobbling totals (`lies`), seeded by `fault_seed`
        self.lies_rng = random.Random(f"{config.fault_seed}:lies")
        self._started = clock()
        self._last_write_ms = 0

    def collection(self, kind: str, name: str) -> Collection | None:
        """The master or module (`kind`) collection called `name` (any case), if it exists."""
        return self.data.collections.get((kind, name.upper()))

    def records(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        """The live data exactly as the API serves it (JSON-equal), in insertion order.

        kind: "master" or "module" (name defaults to the configured one; fresh dicts, decoded from
        the stored JSON), "users" (user-access entries) or "groups" (one `{projects, groups}`
        object holding every project, in a list). Treat users and groups as read-only.
        """
        if kind == "users":
            return list(self.data.users)
        if kind == "groups":
            return [{"projects": list(self.data.projects), "groups": list(self.data.tenant_groups)}]
        if kind not in ("master", "module"):
            raise ValueError(f"unknown kind {kind!r}: use master, module, users or groups")
        default = self.config.master_name if kind == "master" else self.config.module_name
        coll = self.collection(kind, name or default)
        if coll is None:
            raise KeyError(f"no {kind} called {name!r}")
        return coll.records()

    def generation(
        self, change_pct: float = 1.0, delete_pct: float = 0.1, insert_pct: float = 0.1
    ) -> Generation:
        """Move masters and modules on by one deterministic generation (`ExtoDataset`)."""
        return self.data.generation(change_pct, delete_pct, insert_pct)

    def flip_types(self, count: int) -> list[str]:
        """Flip the customFields types of `count` master records, one generation on
        (`ExtoDataset.flip_types`); their `_id`s. The master's learnt write types are forgotten (the
        vendor's form changed), so the next write learns them again from the records."""
        flipped = self.data.flip_types(count)
        self.field_types.pop(("master", self.config.master_name), None)
        return flipped

    def write_time(self) -> tuple[float, int]:
        """The clock reading and the timestamp (epoch ms) of a write applied now.

        The timestamp is the current generation's time (2025-07-01 + g days) plus the sandbox
        clock's seconds since start, and always at least 1 ms after the previous write's: so it
        follows every seeded record and moves on with each write, whatever the clock's epoch.
        """
        at = self.clock()
        ms = self.data.now_ms() + int((at - self._started) * 1000)
        self._last_write_ms = max(ms, self._last_write_ms + 1)
        return at, self._last_write_ms

    def max_in_window(self, token: str, window: float = 1.0) -> int:
        """Most requests from `token` the rate limiter accepted in any `window` seconds, from the
        log: every entry but 429s (limiter and storm) and 401s (which never reach the limiter).
        Faulted requests count, status 0 included: the limiter accepted them."""
        times = sorted(
            e.at for e in self.request_log if e.token == token and e.status not in (401, 429)
        )
        return max_in_window(times, window)

    def early_requests(self, token: str) -> int:
        """Requests from `token` that arrived while a Retry-After sent to it still forbade them
        (more than 50 ms after that 429 left, before the instant it named); see docs/sandbox.md
        "Fault switches"."""
        return self.faults.early[token]

    def stats(self) -> dict[str, Any]:
        """Request counts per status, injected faults per kind, the busiest window and early
        requests per token, live record counts, the generation, how many master records
        `flip_types` has flipped, the ledger's size."""
        tokens = sorted({e.token for e in self.request_log if e.token is not None})
        faults = Counter(e.fault for e in self.request_log if e.fault is not None)
        return self._log_stats() | {
            "faults": dict(sorted(faults.items())),
            "max_in_window": {token: self.max_in_window(token) for token in tokens},
            "early_requests": {token: self.early_requests(token) for token in tokens},
            "records": {
                kind: {name: len(coll)} for (kind, name), coll in self.data.collections.items()
            }
            | {"users": len(self.data.users), "projects": len(self.data.projects)},
            "generation": self.data.generation_number,
            "type_flipped": len(self.data.type_flipped),
            "ledger": len(self.ledger),
            "config": self.config.describe(),
        }


EXTO_KEY = web.AppKey("exto_sandbox", ExtoSandbox)
