"""The next times a config's schedules fire, recorded where SQL can read them.

Postgres cannot read cron, so whenever syncer runs with a config (every sync, a worker's start,
a queued run) it records each configured stream's vendor, its schedules as written and their
next TICKS ticks (syncer.configured_streams); mirror_meta.streams shows the first tick after
now(). Every run of a stream records them afresh, so with a worker running they never run out;
a stream without a schedule has none (next_run_at NULL).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
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
    """The next `count` ticks of all `schedules` together, ascending; a tick two schedules
    share is one run (the first schedule's mode, as the worker's queueing lock keeps one)."""
    merged = heapq.merge(*(ticks(s, after) for s in schedules), key=lambda tick: tick[0])
    unique = (next(group) for _, group in itertools.groupby(merged, key=lambda tick: tick[0]))
    return list(itertools.islice(unique, count))


def configured(config: Config, now: datetime | None = None) -> list[ConfiguredStream]:
    """Every stream of the config with its vendor, schedules and next ticks."""
    now = now or datetime.now(UTC)
    found = []
    for conn in config.connections:
        for name in conn.streams:
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


async def record(mirror: Mirror, config: Config) -> None:
    """Record the config's streams and their next ticks (mirror_meta.streams reads them)."""
    await mirror.meta.record([c.name for c in config.connections], configured(config))


async def record_at(database_url: str, config: Config) -> None:
    """`record`, on a connection of its own (a worker's start, a queued run)."""
    async with Mirror.connect(database_url, max_size=1) as mirror:
        await record(mirror, config)
