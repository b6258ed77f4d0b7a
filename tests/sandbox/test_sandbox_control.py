"""The /_sandbox control routes and the serve() entry point."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import orjson

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, serve

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"


async def test_stats_reports_requests_windows_and_counts(make_client, clock):
    """stats: counts per status, busiest window per token, live record counts."""
    client = await make_client(rate_limit=2, clock=clock)
    for _ in range(3):
        await client.get(MASTERS, headers=AUTH)
    await client.get(MASTERS)
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["requests"] == 4
    assert stats["by_status"] == {"200": 2, "401": 1, "429": 1}
    assert stats["max_in_window"] == {"sandbox-token": 2}
    assert stats["records"]["master"] == {"LOCATION": 200}
    assert stats["records"]["module"] == {"INSPECTION": 50}
    assert stats["generation"] == 0


async def test_control_routes_are_not_logged_or_limited(make_client, clock):
    """Control routes need no token, are never rate limited and stay out of the request log."""
    client = await make_client(rate_limit=1, clock=clock)
    for _ in range(5):
        assert (await client.get("/_sandbox/stats")).status == 200
    assert client.app[EXTO_KEY].request_log == []


async def test_generation_route(make_client):
    """POST /_sandbox/generation runs a generation and reports its counts."""
    client = await make_client()
    response = await client.post(
        "/_sandbox/generation", json={"change_pct": 10, "delete_pct": 5, "insert_pct": 5}
    )
    body = orjson.loads(await response.read())
    assert (body["generation"], body["changed"], body["deleted"], body["inserted"]) == (
        1,
        25,
        13,
        13,
    )
    assert len(body["changed_ids"]) == 25
    default = orjson.loads(await (await client.post("/_sandbox/generation")).read())
    assert default["generation"] == 2
    assert (await client.post("/_sandbox/generation", json={"change_pct": "x"})).status == 400
    assert (await client.post("/_sandbox/generation", json={"bogus": 1})).status == 400


async def test_config_route_changes_knobs(make_client):
    """POST /_sandbox/config sets runtime knobs and rejects unknown knobs and bad values."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    response = await client.post(
        "/_sandbox/config", json={"rate_limit": 5, "retry_after": True, "envelope": "array"}
    )
    assert orjson.loads(await response.read()) == {
        "rate_limit": 5,
        "retry_after": True,
        "envelope": "array",
    }
    assert (sb.config.rate_limit, sb.config.retry_after, sb.config.envelope) == (5, True, "array")
    for bad in ({"rate_limit": "x"}, {"envelope": "xml"}, {"seed": 3}, {"latency_ms": -1}):
        assert (await client.post("/_sandbox/config", json=bad)).status == 400
    assert (await client.post("/_sandbox/config", data=b"[1]")).status == 400
    assert sb.config.rate_limit == 5


async def test_reset_log_route(make_client):
    """POST /_sandbox/reset-log empties the request log."""
    client = await make_client()
    await client.get(MASTERS, headers=AUTH)
    assert client.app[EXTO_KEY].request_log
    assert (await client.post("/_sandbox/reset-log")).status == 200
    assert client.app[EXTO_KEY].request_log == []


async def test_serve_listens_until_cancelled():
    """serve() answers on its port and shuts down cleanly when cancelled."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ExtoConfig(master_records=50, module_records=5, users=5, projects=3)
    task = asyncio.create_task(serve(config, "127.0.0.1", port))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(
                        f"http://127.0.0.1:{port}/data/api/v1/health/readiness"
                    ) as response:
                        assert await response.json() == {"ok": True}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.01)
            else:
                raise AssertionError("sandbox never answered")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
