"""Registering a stream (its row in syncer.streams and its mirror table) from several
processes at once: a sync and a push's read-back of one stream, on a new database."""

from __future__ import annotations

import asyncio

import pytest

from syncer.mirror import Mirror

pytestmark = pytest.mark.integration


async def test_processes_registering_one_stream_at_once_all_get_it(db_url: str) -> None:
    """Three sessions register each of 20 new streams at the same moment: none fails (two
    concurrent CREATE TABLE IF NOT EXISTS of one table collide in pg_type), and all get the
    same stream and table (found by fault experiment 21: a push exited 5)."""
    async with (
        Mirror.connect(db_url, max_size=2) as a,
        Mirror.connect(db_url, max_size=2) as b,
        Mirror.connect(db_url, max_size=2) as c,
    ):
        for n in range(20):
            stream = f"master:RACE{n}"
            refs = await asyncio.gather(*(m.ensure_stream("exto", stream) for m in (a, b, c)))
            assert len(set(refs)) == 1
