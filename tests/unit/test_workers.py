"""Page decoding, inline and in worker processes."""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest

from syncer import workers


def page(n: int) -> bytes:
    rows = [
        {"_id": f"{i:024x}", "updatedAt": "2025-01-01T00:00:00.000Z", "v": "x" * 100}
        for i in range(n)
    ]
    return orjson.dumps({"rows": rows, "total": n, "page": 1, "pageSize": 1000, "totalPages": 1})


async def test_a_large_page_is_decoded_in_a_worker_process() -> None:
    body = page(1000)
    assert len(body) > workers.INLINE_BYTES
    decoded = await workers.decode("exto", "master:LOCATION", {}, body)
    assert decoded.record_count == decoded.item_count == 1000
    assert decoded.total_pages == 1
    assert [r.key for r in decoded.prepared.rows[:2]] == [f"{0:024x}", f"{1:024x}"]


async def test_a_truncated_body_raises_value_error_for_a_retry() -> None:
    with pytest.raises(ValueError):
        await workers.decode("exto", "master:LOCATION", {}, page(1000)[:-10])
    with pytest.raises(ValueError):
        await workers.decode("exto", "master:LOCATION", {}, b'{"rows": [')


async def test_a_large_page_with_bad_bytes_lands_but_for_the_records_holding_them() -> None:
    """Decoded in a worker process: the records holding bytes that are not UTF-8 come back
    rejected with their reason, the others prepared."""
    body = page(1000).replace(f'"{7:024x}"'.encode(), f'"{7:023x}\xff"'.encode("latin-1"), 1)
    body = body.replace(b'"x', b'"\xe9x', 2)  # the values of records 0 and 1
    assert len(body) > workers.INLINE_BYTES
    decoded = await workers.decode("exto", "master:LOCATION", {}, body)
    assert decoded.record_count == 1000 and len(decoded.prepared.rows) == 997
    rejected = [(r.key, r.reason) for r in decoded.prepared.rejected]
    assert rejected == [
        (f"{0:024x}", "bytes that are not UTF-8 in a value"),
        (f"{1:024x}", "bytes that are not UTF-8 in a value"),
        (None, "key contains bytes that are not UTF-8"),
    ]
    assert f'"_id": "{7:023x}\\xff"' in decoded.prepared.rejected[2].raw


async def test_workers_decode_at_a_lower_priority_than_the_event_loop() -> None:
    """The paced sends of the event loop come first: each worker runs niced."""
    pool = workers._get_pool()
    here = os.nice(0)
    there = await asyncio.wrap_future(pool.submit(os.nice, 0))
    assert there == here + workers.WORKER_NICENESS


def test_a_paced_run_decodes_in_one_worker_and_a_fast_one_in_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against a vendor limiting requests, a second busy worker would delay paced sends."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert workers.workers_for(3) == workers.workers_for(20) == 1
    assert workers.workers_for(workers.TWO_WORKERS_FROM) == workers.workers_for(100_000) == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert workers.workers_for(100_000) == 1
