"""`IotoSandbox`: one running Ioto sandbox's config, data, request log and write ledger — the handle
tests hold.

For example:

    sb = create_app(IotoConfig(devices=500))[IOTO_KEY]
    sb.config.filtered_ratio = 0.5  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.count_status(403) == 0
    assert [w.key for w in sb.ledger if w.created] == []  # no write inserted anything
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.common.ledger import WriteLedger
from syncer.sandbox.common.ratelimit import Clock, Limiter
from syncer.sandbox.common.requestlog import RequestLog, RequestLogEntry
from syncer.sandbox.ioto.clock import DataClock
from syncer.sandbox.ioto.config import IotoConfig
from syncer.sandbox.ioto.data import GENERATION_EPOCH_MS, Generation, IotoDataset
from syncer.sandbox.ioto.items import DAY_MS
from syncer.sandbox.ioto.ledger import AppliedWrite
from syncer.sandbox.ioto.models import DATA_MODELS, MODELS, Item


class IotoSandbox(RequestLog, WriteLedger[AppliedWrite]):
    """The live state behind one Ioto sandbox app."""

    def __init__(self, config: IotoConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        #: the API Gateway throttle: one window for every caller (key "*")
        self.limiter = Limiter(clock=clock)
        self.request_log: list[RequestLogEntry] = []
        self.data = IotoDataset.build(config)
        #: find pages served so far (drives `empty_page_every`)
        self.pages_served = 0
        #: sandbox time (Unix ms) on top of `clock`: stamps writes, expires items
        self.data_clock = DataClock(clock, GENERATION_EPOCH_MS)
        #: every state-changing write applied through the API, oldest first
        self.ledger: list[AppliedWrite] = []
        #: items dropped because their `expires` date passed
        self.purged = 0
        #: draws the ULIDs of items created without an id
        self.write_rng = random.Random(f"{config.seed}:ioto:writes")

    def now_ms(self) -> int:
        """Sandbox time in Unix ms (see `clock.DataClock`)."""
        return self.data_clock.now_ms()

    def purge_expired(self) -> int:
        """Delete the items whose `expires` date sandbox time has reached; return how many."""
        now = self.now_ms()
        purged = sum(table.purge(now) for table in self.data.tables.values())
        self.purged += purged
        return purged

    def claimed(self, device_id: str) -> bool:
        """Whether `device_id` is a live device of the account (and not listed as foreign)."""
        if device_id in self.config.foreign_devices:
            return False
        device = MODELS["Device"].key({"accountId": self.config.account_id, "id": device_id})
        return device in self.data.tables["Device"].items

    def put(self, operation: str, model: str, item: Item) -> bool:
        """Insert `item` or replace the item with its natural key, and enter the write in the
        ledger; True if it was inserted."""
        table = self.data.tables[model]
        natural = table.model.natural_key(item)
        created = table.get(natural) is None
        table.put(item)
        self.ledger.append(AppliedWrite(self.clock(), operation, model, natural, created))
        return created

    def remove(self, model: str, natural: str) -> Item:
        """Delete the live item with natural key `natural` and enter the write in the ledger."""
        table = self.data.tables[model]
        item = table.delete(table.by_natural[natural])
        self.ledger.append(AppliedWrite(self.clock(), "remove", model, natural, False))
        return item

    def records(self, model: str) -> list[dict[str, Any]]:
        """The live items of `model` exactly as the find routes serve them: (pk, sk) order, items
        the hidden filter drops (`filtered_ratio`) and expired items left out; fresh dicts each
        call."""
        if model not in MODELS:
            raise KeyError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
        self.purge_expired()
        table = self.data.tables[model]
        ratio = self.config.filtered_ratio
        return [orjson.loads(table.raw[key]) for key in table.keys if table.roll[key] >= ratio]

    def generation(
        self, change_pct: float = 1.0, delete_pct: float = 0.1, insert_pct: float = 0.1
    ) -> Generation:
        """Move Device, Store and Log on by one deterministic generation; sandbox time moves on
        to the generation's instant if it is behind."""
        result = self.data.generation(change_pct, delete_pct, insert_pct)
        self.data_clock.jump(GENERATION_EPOCH_MS + result.generation * DAY_MS)
        return result

    def stats(self) -> dict[str, Any]:
        """Request counts per status, pages served, live item counts, generation, ledger size,
        items purged, and knobs."""
        self.purge_expired()
        return self._log_stats() | {
            "pages_served": self.pages_served,
            "records": {name: len(self.data.tables[name]) for name in DATA_MODELS},
            "generation": self.data.generation_number,
            "ledger": len(self.ledger),
            "purged": self.purged,
            "config": self.config.describe(),
        }


IOTO_KEY = web.AppKey("ioto_sandbox", IotoSandbox)
