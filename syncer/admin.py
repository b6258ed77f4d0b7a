"""What an operator can do to a stream's state by hand: inspect every stream's cursor, pass in
progress and held deletes; reset a cursor or drop a pass in progress; confirm or discard the
deletes a pass held back. Each change takes the stream's lock first, so it never races a run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncer import errors
from syncer.mirror import Mirror, StreamRef, translate_errors
from syncer.models import StreamStats
from syncer.sql import queries
from syncer.status import RunMode, RunStatus


@dataclass(frozen=True)
class Reset:
    """What `reset` changed."""

    stream: str
    cursor_before: datetime | None
    cursor_after: datetime | None
    #: the passes in progress dropped (a full and an incremental one, at most)
    dropped_passes: tuple[int, ...]


async def states(url: str) -> list[dict[str, Any]]:
    """Every registered stream: cursor, pass in progress, last complete full pass, held deletes."""
    async with Mirror.connect(url, max_size=2) as mirror:
        with translate_errors("reading the streams' state"):
            return [dict(r) for r in await mirror.pool.fetch(queries["stream_states"])]


async def held(url: str) -> list[dict[str, Any]]:
    """Per stream with held deletes: how many, from which pass and run, since when."""
    async with Mirror.connect(url, max_size=2) as mirror:
        with translate_errors("reading held deletes"):
            return [dict(r) for r in await mirror.pool.fetch(queries["held_summary"])]


async def reset(
    url: str, name: str, *, cursor: datetime | None, set_cursor: bool, drop_pass: bool
) -> Reset:
    """Set (or clear) the stream's cursor and/or drop its pass in progress."""
    if not set_cursor and not drop_pass:
        raise errors.ConfigError("nothing to reset: give --cursor, --no-cursor or --drop-pass")
    async with Mirror.connect(url, max_size=3) as mirror:
        ref = await _stream(mirror, name)
        async with mirror.stream_lock(ref.connection, ref.stream) as fence:
            state = await mirror.store.load_state(ref)
            dropped: list[int] = []
            with translate_errors("resetting the stream's state"):
                async with mirror.fenced(fence) as conn:
                    if set_cursor:
                        await conn.execute(queries["set_cursor"], ref.stream_id, cursor)
                    if drop_pass:
                        rows = await conn.fetch(queries["discard_pass"], ref.stream_id, None)
                        dropped = [r["pass_id"] for r in rows]
                        for pass_id in dropped:
                            await conn.execute(queries["drop_pass_keys"], pass_id)
            after = await mirror.store.load_state(ref)
    return Reset(f"{ref.connection}/{ref.stream}", state.cursor, after.cursor, tuple(dropped))


async def confirm_deletes(url: str, name: str) -> int:
    """Apply the stream's held deletes (soft deletes, recorded as a run); how many rows."""
    async with Mirror.connect(url, max_size=3) as mirror:
        ref = await _stream(mirror, name)
        async with mirror.stream_lock(ref.connection, ref.stream) as fence:
            with translate_errors("reading held deletes"):
                keys = [
                    r["key"] for r in await mirror.pool.fetch(queries["held_keys"], ref.stream_id)
                ]
            if not keys:
                return 0
            run_id = await mirror.store.start_run(str(uuid.uuid4()), ref, RunMode.DELETES, None, 0)
            stats = StreamStats()
            stats.marked_deleted(await mirror.store.soft_delete(ref, keys, run_id, fence))
            stats.warn(f"an operator confirmed {len(keys)} held deletes")
            await mirror.store.finish_run(run_id, RunStatus.SUCCEEDED, stats, None)
            return stats.deleted


async def discard_deletes(url: str, name: str) -> int:
    """Drop the stream's held deletes without applying them; how many there were."""
    async with Mirror.connect(url, max_size=3) as mirror:
        ref = await _stream(mirror, name)
        async with mirror.stream_lock(ref.connection, ref.stream) as fence:
            return await mirror.store.clear_held(ref, fence)


async def _stream(mirror: Mirror, name: str) -> StreamRef:
    """The registered stream `name` names: CONNECTION/STREAM, or STREAM when only one
    connection has it."""
    connection, slash, stream = name.partition("/")
    with translate_errors("finding the stream"):
        if slash:
            pairs = [(connection, stream)]
            row = await mirror.pool.fetchrow(queries["get_stream"], connection, stream)
            found = [] if row is None else pairs
        else:
            rows = await mirror.pool.fetch(queries["streams_named"], name)
            found = [(r["connection"], r["stream"]) for r in rows]
    if not found:
        raise errors.ConfigError(
            f"no stream {name!r} in the mirror (name it CONNECTION/STREAM as `syncer state` "
            "lists them)"
        )
    if len(found) > 1:
        options = ", ".join(f"{c}/{s}" for c, s in found)
        raise errors.ConfigError(
            f"{name!r} is a stream of several connections: use one of {options}"
        )
    return await mirror.ensure_stream(*found[0])
