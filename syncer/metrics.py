"""Prometheus metrics of a worker (`syncer worker --metrics-port P`): what it sent, what it
wrote, how its runs went, and how much of each credential's budget it used.

Counters grow in every syncer process (the CLI too, where nobody reads them); only a worker
serves them. Labels are the config's names, never a token or a URL.

    syncer_requests_total{connection}                 requests sent (each attempt)
    syncer_rate_limited_total{connection}             answers 429
    syncer_records_total{connection,stream}           records read
    syncer_rows_total{connection,stream,op}           rows inserted, updated, deleted
    syncer_quarantined_total{connection,stream}       records quarantined
    syncer_runs_total{connection,stream,status}       runs finished
    syncer_run_seconds{connection,stream,mode}        run durations (histogram)
    syncer_last_success_timestamp_seconds{connection,stream}
    syncer_rate_limit_per_second{connection}          the configured limit
    syncer_paced_rate_per_second{connection}          the rate paced now (after 429s)

Budget utilisation per credential, in PromQL:
`rate(syncer_requests_total[5m]) / on(connection) syncer_rate_limit_per_second`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from syncer import errors
from syncer.status import LANDED

if TYPE_CHECKING:
    from syncer.models import StreamStats
    from syncer.settings import ConnectionConfig


class Finished(Protocol):
    """A stream run's outcome as the metrics count it (syncer.run.StreamResult, which imports
    the HTTP client that imports this module: hence a protocol, not an import)."""

    @property
    def connection(self) -> str: ...

    @property
    def stream(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def seconds(self) -> float: ...

    @property
    def stats(self) -> StreamStats: ...


REQUESTS = Counter("syncer_requests", "Requests sent (each attempt).", ["connection"])
RATE_LIMITED = Counter("syncer_rate_limited", "Answers 429.", ["connection"])
RECORDS = Counter("syncer_records", "Records read.", ["connection", "stream"])
ROWS = Counter("syncer_rows", "Mirror rows written.", ["connection", "stream", "op"])
QUARANTINED = Counter("syncer_quarantined", "Records quarantined.", ["connection", "stream"])
RUNS = Counter("syncer_runs", "Stream runs finished.", ["connection", "stream", "status"])
RUN_SECONDS = Histogram(
    "syncer_run_seconds",
    "Stream run durations.",
    ["connection", "stream", "mode"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600),
)
LAST_SUCCESS = Gauge(
    "syncer_last_success_timestamp_seconds",
    "When the stream's latest run that did not fail finished (Unix time).",
    ["connection", "stream"],
)
RATE_LIMIT = Gauge(
    "syncer_rate_limit_per_second", "The credential's configured rate limit.", ["connection"]
)
PACED_RATE = Gauge(
    "syncer_paced_rate_per_second", "The rate the credential is paced at now.", ["connection"]
)


async def serve(port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Serve /metrics on host:port from this event loop; `await runner.cleanup()` stops it.

    Not prometheus_client's own server, which answers from a thread: a thread of syncer's
    process that takes the interpreter's lock can hold a request between the pacing gate's
    stamp and its bytes (see syncer/workers.py)."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise errors.ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another --metrics-port"
        ) from None
    return runner


def connection_rates(conn: ConnectionConfig, paced: float) -> None:
    RATE_LIMIT.labels(conn.name).set(conn.rate_limit / conn.rate_period)
    PACED_RATE.labels(conn.name).set(paced)


def run_finished(result: Finished) -> None:
    """Count one stream run's outcome."""
    stats, labels = result.stats, (result.connection, result.stream)
    RECORDS.labels(*labels).inc(stats.records)
    for op in ("inserted", "updated", "deleted"):
        ROWS.labels(*labels, op).inc(getattr(stats, op))
    QUARANTINED.labels(*labels).inc(stats.quarantined)
    RUNS.labels(*labels, result.status).inc()
    RUN_SECONDS.labels(*labels, result.mode).observe(result.seconds)
    if result.status in LANDED:
        LAST_SUCCESS.labels(*labels).set(time.time())
