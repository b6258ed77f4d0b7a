"""What mirror_meta's views read besides runs and streams: the config's streams with their
vendor and next scheduled ticks (syncer.configured_streams). Row counts need no call: a trigger
counts a stream's table whenever one of its runs ends (migrations/0013_meta_views.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from syncer.mirror.base import Part, translate_errors
from syncer.sql import queries


@dataclass(frozen=True)
class ConfiguredStream:
    """A stream as a config names it: its vendor, its schedules as written, their next ticks."""

    connection: str
    stream: str
    vendor: str
    #: each schedule as "CRON MODE"
    schedules: tuple[str, ...]
    #: the next ticks, ascending, each with the mode of the run it starts
    upcoming: tuple[tuple[datetime, str], ...]


class Meta(Part):
    """`mirror.meta`: the config's streams, where SQL (mirror_meta.streams) can read them."""

    async def record(self, connections: Sequence[str], streams: Sequence[ConfiguredStream]) -> None:
        """Record `streams`, and forget the other streams of `connections` (a stream the
        config dropped loses its schedules), in one transaction."""
        with translate_errors("recording the config's streams and schedules"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    queries["forget_configured_streams"],
                    list(connections),
                    [f"{s.connection}/{s.stream}" for s in streams],
                )
                await conn.executemany(
                    queries["record_configured_stream"],
                    [
                        (
                            s.connection,
                            s.stream,
                            s.vendor,
                            list(s.schedules),
                            [at for at, _ in s.upcoming],
                            [mode for _, mode in s.upcoming],
                        )
                        for s in streams
                    ],
                )
