"""Health, for schedulers and monitors: is every configured stream fresh, and did its last run
end well? One verdict per stream from syncer.runs, and one JSON POST per unhealthy stream to its
connection's `notify_url`.

A stream is fresh from its newest run that finished without failing (succeeded, quarantined or
incomplete: each merged what it read). It is unhealthy when its newest finished run failed (or
was abandoned: its process died), when no run of it ever finished without failing, or when that
run finished longer ago than its `max_staleness`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson

from syncer import __version__, errors, log
from syncer.mirror import Mirror, translate_errors
from syncer.settings import Config
from syncer.sql import queries
from syncer.status import LANDED, RunStatus

#: statuses of a finished run that failed (abandoned: its process ended before it finished)
FAILED = (RunStatus.FAILED, RunStatus.ABANDONED)
#: seconds one notification may take, connecting included
NOTIFY_TIMEOUT = 10.0

Problem = Literal["failed", "stale", "never_succeeded"]


@dataclass(frozen=True)
class StreamRuns:
    """What syncer.runs says of one configured stream."""

    connection: str
    stream: str
    last_run_id: int | None = None
    last_status: str | None = None
    last_finished_at: datetime | None = None
    last_error: str | None = None
    good_run_id: int | None = None
    good_finished_at: datetime | None = None
    running_since: datetime | None = None


@dataclass(frozen=True)
class StreamHealth:
    """One stream's verdict: `problem` None is healthy."""

    connection: str
    stream: str
    problem: Problem | None
    detail: str
    runs: StreamRuns
    max_staleness: float | None
    #: seconds since the last good run finished (None: there is none)
    staleness: float | None

    @property
    def qualified(self) -> str:
        return f"{self.connection}/{self.stream}"

    def as_json(self) -> dict[str, Any]:
        """Everything known of the stream, for `syncer health --json`."""
        r = self.runs
        return {
            "connection": self.connection,
            "stream": self.stream,
            "healthy": self.problem is None,
            "problem": self.problem,
            "detail": self.detail,
            "last_run_id": r.last_run_id,
            "last_status": r.last_status,
            "last_finished_at": _iso(r.last_finished_at),
            "last_error": r.last_error,
            "last_success_run_id": r.good_run_id,
            "last_success_at": _iso(r.good_finished_at),
            "staleness_s": self.staleness,
            "max_staleness_s": self.max_staleness,
            "running_since": _iso(r.running_since),
        }


@dataclass(frozen=True)
class Delivery:
    """How one notification went: `error` None when the receiver answered 2xx."""

    connection: str
    stream: str
    #: the receiver's scheme, host and port only (a webhook's path is often its credential)
    target: str
    error: str | None


@dataclass(frozen=True)
class Report:
    """Every configured stream's verdict at `checked_at`."""

    checked_at: datetime
    streams: list[StreamHealth]

    @property
    def unhealthy(self) -> list[StreamHealth]:
        return [s for s in self.streams if s.problem is not None]

    @property
    def exit_code(self) -> errors.ExitCode:
        return errors.ExitCode.UNHEALTHY if self.unhealthy else errors.ExitCode.OK


def evaluate(runs: StreamRuns, max_staleness: float | None, now: datetime) -> StreamHealth:
    """The verdict on one stream from its runs: failed first, then never succeeded, then stale."""
    staleness = None
    if runs.good_finished_at is not None:
        staleness = max(0.0, (now - runs.good_finished_at).total_seconds())
    problem: Problem | None = None
    if runs.last_status in FAILED:
        problem = "failed"
        detail = (
            f"run {runs.last_run_id} {runs.last_status} at {_iso(runs.last_finished_at)}: "
            f"{log.scrub(runs.last_error or 'no error recorded')}"
        )
        detail += "; it never succeeded" if staleness is None else f"; {_since(runs, staleness)}"
    elif staleness is None:
        problem = "never_succeeded"
        detail = "no run has finished without failing"
    else:
        detail = _since(runs, staleness)
        if max_staleness is not None:
            detail += f" (max_staleness {duration(max_staleness)})"
            if staleness > max_staleness:
                problem = "stale"
    if runs.running_since is not None:
        detail += f"; a run has been running since {_iso(runs.running_since)}"
    return StreamHealth(
        runs.connection, runs.stream, problem, detail, runs, max_staleness, staleness
    )


def _since(runs: StreamRuns, staleness: float) -> str:
    return (
        f"last success {duration(staleness)} ago (run {runs.good_run_id}, finished "
        f"{_iso(runs.good_finished_at)})"
    )


def duration(seconds: float) -> str:
    """A short human duration: 1.5s, 42m, 26h, 3.2d."""
    if seconds < 120:
        amount, unit = f"{seconds:.1f}", "s"
    elif seconds < 2 * 3600:
        amount, unit = f"{seconds / 60:.0f}", "m"
    elif seconds < 2 * 86400:
        amount, unit = f"{seconds / 3600:.1f}", "h"
    else:
        amount, unit = f"{seconds / 86400:.1f}", "d"
    return amount.removesuffix(".0") + unit


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def stream_runs(mirror: Mirror, streams: Sequence[tuple[str, str]]) -> list[StreamRuns]:
    """Per (connection, stream), in the order given: its runs as health needs them."""
    with translate_errors("reading the runs table"):
        rows = await mirror.pool.fetch(
            queries["stream_health"],
            [c for c, _ in streams],
            [s for _, s in streams],
            list(LANDED),
        )
    return [StreamRuns(**dict(row)) for row in rows]


async def check(config: Config, database_url: str, now: datetime | None = None) -> Report:
    """Every configured stream's verdict, from the runs table of the mirror at `database_url`."""
    streams = [(c.name, s) for c in config.connections for s in c.streams]
    async with Mirror.connect(database_url, max_size=1) as mirror:
        found = await stream_runs(mirror, streams)
    checked_at = now or datetime.now(UTC)
    staleness = {
        (c.name, s): c.stream_config(s).max_staleness for c in config.connections for s in c.streams
    }
    verdicts = [evaluate(r, staleness[r.connection, r.stream], checked_at) for r in found]
    return Report(checked_at, verdicts)


def notification(health: StreamHealth, checked_at: datetime) -> dict[str, Any]:
    """The JSON body POSTed for one unhealthy stream. No token, URL or password is ever in it
    (the run's error was scrubbed when it was stored, and is scrubbed again here)."""
    return {
        "connection": health.connection,
        "stream": health.stream,
        "problem": health.problem,
        "detail": log.scrub(health.detail),
        "last_run_id": health.runs.last_run_id,
        "last_success_at": _iso(health.runs.good_finished_at),
        "max_staleness_s": health.max_staleness,
        "checked_at": checked_at.isoformat(),
    }


async def notify(
    config: Config, report: Report, *, within: float = NOTIFY_TIMEOUT
) -> list[Delivery]:
    """POST one JSON body per unhealthy stream to its connection's notify_url, all at once;
    never raises: each failure (no connection, no answer `within` seconds, an answer other
    than 2xx, a redirect, which is not followed) is a Delivery with its error."""
    urls = {c.name: c.notify_url for c in config.connections}
    wanted = [(s, url) for s in report.unhealthy if (url := urls.get(s.connection))]
    if not wanted:
        return []
    headers = {"User-Agent": f"syncer/{__version__} health"}
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=within), headers=headers
    ) as session:
        return list(
            await asyncio.gather(
                *(
                    _post(session, url, s, notification(s, report.checked_at), within)
                    for s, url in wanted
                )
            )
        )


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    health: StreamHealth,
    body: dict[str, Any],
    within: float,
) -> Delivery:
    target = origin(url)
    error = None
    try:
        async with session.post(
            url,
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            allow_redirects=False,
        ) as response:
            if not 200 <= response.status < 300:
                error = f"the receiver answered HTTP {response.status}" + (
                    " (redirects are not followed)" if 300 <= response.status < 400 else ""
                )
    except TimeoutError:
        error = f"no answer within {within:g} s"
    except aiohttp.ClientError as exc:
        error = _without(f"{type(exc).__name__}: {exc}", url)
    return Delivery(health.connection, health.stream, target, error)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what syncer may print of a notify_url."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _without(message: str, url: str) -> str:
    """An aiohttp message with the URL's path, query and user info cut out."""
    parts = urlsplit(url)
    message = message.replace(url, origin(url))
    userinfo = parts.netloc.rpartition("@")[0]
    for secret in (parts.path + (f"?{parts.query}" if parts.query else ""), userinfo):
        if len(secret) > 1:
            message = message.replace(secret, "...")
    return log.scrub(message)
