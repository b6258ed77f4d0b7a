"""The next times a config's schedules fire, recorded where SQL can read them.

Postgres cannot read cron, so whenever syncer runs with a config it records each configured
stream's vendor, its schedules as written and their next TICKS ticks
(syncer.configured_streams); mirror_meta.streams shows the first tick after now(). A worker's
start and a queued run record the whole config (forgetting the streams it dropped); every sync
records the streams it runs, afresh, so with a worker running the ticks never run out. A stream
without a schedule has none (next_run_at NULL).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime

from croniter import croniter

from syncer.mirror import Mirror
from syncer.mirror.meta import ConfiguredStream
from syncer.settings import Config
from syncer.stream_config import Schedule

#: ticks recorded per stream: an hourly schedule stays current for days without a run
TICKS = 64


def ticks(schedule: Schedule, after: datetime) -> Iterator[tuple[datetime, str]]:
    """The schedule's ticks after `after` (cron in UTC), each with its mode, for ever."""
    it = croniter(schedule.cron, after.astimezone(UTC))
    while True:
        yield it.get_next(datetime), schedule.mode


def upcoming(
    schedules: Sequence[Schedule], after: datetime, count: int = TICKS
) -> list[tuple[datetime, str]]:
    """The next `count` ticks of all `schedules` together, ascending. A tick two schedules
    share is listed once, with the first schedule's mode (the workers run both, one after the
    other: the stream's lock keeps them apart)."""
    merged = heapq.merge(*(ticks(s, after) for s in schedules), key=lambda tick: tick[0])
    unique = (next(group) for _, group in itertools.groupby(merged, key=lambda tick: tick[0]))
    return list(itertools.islice(unique, count))


def configured(
    config: Config, now: datetime | None = None, only: Collection[tuple[str, str]] | None = None
) -> list[ConfiguredStream]:
    """Every stream of the config (or the (connection, stream) pairs `only` names) with its
    vendor, schedules and next ticks."""
    now = now or datetime.now(UTC)
    found = []
    for conn in config.connections:
        for name in conn.streams:
            if only is not None and (conn.name, name) not in only:
                continue
            own = conn.stream_config(name).schedules
            found.append(
                ConfiguredStream(
                    conn.name,
                    name,
                    conn.vendor,
                    tuple(f"{s.cron} {s.mode}" for s in own),
                    tuple(upcoming(own, now)),
                )
            )
    return found


async def record(
    mirror: Mirror, config: Config, only: Collection[tuple[str, str]] | None = None
) -> None:
    """Record the config's streams and their next ticks (mirror_meta.streams reads them); the
    streams of its connections it no longer names are forgotten. With `only`, just those
    (connection, stream) pairs, forgetting nothing: a run records the streams it runs, and a
    worker's job of one stream does not compute the ticks of every other."""
    if only is None:
        await mirror.meta.record([c.name for c in config.connections], configured(config))
    else:
        await mirror.meta.record([], configured(config, only=set(only)))


async def record_at(database_url: str, config: Config) -> None:
    """`record`, on a connection of its own (a worker's start, a queued run)."""
    async with Mirror.connect(database_url, max_size=1) as mirror:
        await record(mirror, config)
