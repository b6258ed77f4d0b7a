"""`ActitoSandbox`: one Actito sandbox's config, data, licence limits, request log and ledger.

The handle tests hold (`app[ACTITO_KEY]`), for example:

    sb = create_app(ActitoConfig(profiles=500))[ACTITO_KEY]
    sb.config.max_concurrent = 0  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.max_concurrent <= 5 and sb.count_status(429) == 0
    operations = [w.operation for w in sb.ledger]  # writes applied, e.g. ["profile.create"]
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.actito.config import ActitoConfig
from syncer.sandbox.actito.cursor import Cursors
from syncer.sandbox.actito.data import ActitoDataset, Generation
from syncer.sandbox.actito.ledger import AppliedWrite
from syncer.sandbox.actito.limits import CallWindow, LicenceGate
from syncer.sandbox.actito.structure import TableInfo, custom_table_info, profile_table_info
from syncer.sandbox.actito.tables import Table
from syncer.sandbox.actito.tokens import TokenStore
from syncer.sandbox.common.ledger import WriteLedger
from syncer.sandbox.common.ratelimit import Clock
from syncer.sandbox.common.requestlog import RequestLog, RequestLogEntry


class ActitoSandbox(RequestLog, WriteLedger[AppliedWrite]):
    """The live state behind one Actito sandbox app (one entity, one licence)."""

    def __init__(self, config: ActitoConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.data = ActitoDataset.build(config)
        self.tables = (
            profile_table_info(config.profile_table),
            custom_table_info(config.entity, config.custom_table),
        )
        self.cursors = Cursors(config.seed)
        self.tokens = TokenStore()
        self.gate = LicenceGate()
        self.calls = CallWindow(window=60.0)
        #: every token and data request (control routes excluded), in arrival order
        self.request_log: list[RequestLogEntry] = []
        self._token_requests = 0
        #: calls slowed down for exceeding rate_limit, and the latency they were given
        self.throttled_calls = 0
        self.throttled_ms = 0.0
        #: every write applied to the data, in order (refused writes never appear)
        self.ledger: list[AppliedWrite] = []
        self._started = clock()

    @property
    def entities(self) -> list[dict[str, Any]]:
        return [{"id": 1, "name": self.config.entity, "comment": None}]

    def table_info(self, kind: str, ref: str) -> TableInfo | None:
        """The profile ("profiles") or custom ("custom") table called `ref` (name or id)."""
        return next((t for t in self.tables if t.kind == kind and t.matches(ref)), None)

    def profile_table(self, ref: str) -> Table[int] | None:
        """The live profile table called `ref` (name or id), if it exists."""
        return self.data.profiles if self.table_info("profiles", ref) else None

    def custom_table(self, ref: str) -> Table[str] | None:
        """The live custom table called `ref` (name or id), if it exists."""
        return self.data.custom if self.table_info("custom", ref) else None

    def records(self, kind: str, table: str | None = None) -> list[dict[str, Any]]:
        """The live data exactly as the API serves it (fresh copies), in key order.

        kind: "profiles" (profileId order) or "custom" (businessKey order) of the configured
        table (or `table`, by name or id), or "entities".
        """
        if kind == "entities":
            return self.entities
        if kind not in ("profiles", "custom"):
            raise ValueError(f"unknown kind {kind!r}: use profiles, custom or entities")
        rows: Table[int] | Table[str] | None
        if kind == "profiles":
            rows = self.profile_table(table or self.config.profile_table)
        else:
            rows = self.custom_table(table or self.config.custom_table)
        if rows is None:
            raise KeyError(f"no {kind} table called {table!r}")
        copied: list[dict[str, Any]] = orjson.loads(orjson.dumps(list(rows)))
        return copied

    def generation(
        self, change_pct: float = 1.0, delete_pct: float = 0.1, insert_pct: float = 0.1
    ) -> Generation:
        """Move both tables on by one deterministic generation (`ActitoDataset.generation`)."""
        return self.data.generation(
            change_pct, delete_pct, insert_pct, cascade=self.config.cascade_deletes
        )

    def now_moment(self) -> str:
        """The time a write stamps on `creationMoment`/`updateMoment`, `YYYY-MM-DD HH:MM:SS`:
        2025-07-01 00:00:00 + the generation number in days + sandbox clock seconds since start."""
        return self.data.now(self.clock() - self._started)

    def record_write(
        self, method: str, path: str, operation: str, key: int | str, created: bool
    ) -> AppliedWrite:
        """Add an applied write to the ledger (at the current clock reading) and return it."""
        entry = AppliedWrite(self.clock(), method, path, operation, str(key), created)
        self.ledger.append(entry)
        return entry

    def take_write_failure(self) -> bool:
        """Whether the write just applied must be answered 504 (`write_fail_after_apply`)."""
        if self.config.write_fail_after_apply <= 0:
            return False
        self.config.write_fail_after_apply -= 1
        return True

    @property
    def token_requests(self) -> int:
        """`GET /auth/token` calls answered 200 since the start (or `reset_log`)."""
        return self._token_requests

    def token_issued(self) -> None:
        self._token_requests += 1

    @property
    def max_concurrent(self) -> int:
        """The most data requests in flight at once (accepted ones) since the start or reset."""
        return self.gate.peak

    @property
    def in_flight(self) -> int:
        return self.gate.in_flight

    def reset_log(self) -> None:
        """Clear the log and the counters derived from traffic (tokens stay valid)."""
        super().reset_log()
        self._token_requests = 0
        self.gate.reset_peak()
        self.throttled_calls = 0
        self.throttled_ms = 0.0

    def stats(self) -> dict[str, Any]:
        """Request counts per status, limit figures, ledger size, live row counts, generation,
        config."""
        return self._log_stats() | {
            "token_requests": self.token_requests,
            "max_concurrent": self.max_concurrent,
            "in_flight": self.in_flight,
            "throttled_calls": self.throttled_calls,
            "throttled_ms": self.throttled_ms,
            "ledger": len(self.ledger),
            "records": {
                "profiles": {self.data.profiles.name: len(self.data.profiles)},
                "custom": {self.data.custom.name: len(self.data.custom)},
            },
            "generation": self.data.generation_number,
            "config": self.config.describe(),
        }


ACTITO_KEY = web.AppKey("actito_sandbox", ActitoSandbox)
