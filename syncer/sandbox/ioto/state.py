"""`IotoSandbox`: one running Ioto sandbox's config, data and request log — the handle tests hold.

For example:

    sb = create_app(IotoConfig(devices=500))[IOTO_KEY]
    sb.config.filtered_ratio = 0.5  # knobs are read on every request
    sb.generation(change_pct=5.0)  # the vendor's data moves on
    assert sb.count_status(403) == 0
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from syncer.sandbox.ioto.config import IotoConfig
from syncer.sandbox.ioto.data import GenerationResult, IotoDataset
from syncer.sandbox.ioto.models import DATA_MODELS, MODELS
from syncer.sandbox.ratelimit import Clock, SlidingWindowLimiter
from syncer.sandbox.state import RequestLog, RequestLogEntry


class IotoSandbox(RequestLog):
    """The live state behind one Ioto sandbox app."""

    def __init__(self, config: IotoConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        #: the API Gateway throttle: one window for every caller (key "*")
        self.limiter = SlidingWindowLimiter(window=1.0, clock=clock)
        self.request_log: list[RequestLogEntry] = []
        self.data = IotoDataset.build(config)
        #: find pages served so far (drives `empty_page_every`)
        self.pages_served = 0

    def records(self, model: str) -> list[dict[str, Any]]:
        """The live items of `model` exactly as the find routes serve them: (pk, sk) order, items
        the hidden filter drops (`filtered_ratio`) left out; fresh dicts each call."""
        if model not in MODELS:
            raise KeyError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
        table = self.data.tables[model]
        ratio = self.config.filtered_ratio
        return [orjson.loads(table.raw[key]) for key in table.keys if table.roll[key] >= ratio]

    def generation(
        self, change_pct: float = 1.0, delete_pct: float = 0.1, insert_pct: float = 0.1
    ) -> GenerationResult:
        """Move Device, Store and Log on by one deterministic generation."""
        return self.data.generation(change_pct, delete_pct, insert_pct)

    def stats(self) -> dict[str, Any]:
        """Request counts per status, pages served, live item counts, generation and knobs."""
        return self._log_stats() | {
            "pages_served": self.pages_served,
            "records": {name: len(self.data.tables[name]) for name in DATA_MODELS},
            "generation": self.data.generation_number,
            "config": self.config.describe(),
        }


IOTO_KEY = web.AppKey("ioto_sandbox", IotoSandbox)
