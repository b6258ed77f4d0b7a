"""The /_sandbox control routes and mounting the app under /xtrakit."""

from __future__ import annotations

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from xtrakit_support import AUTH, CUSTOMERS, KEY

from syncer.sandbox.xtrakit import XTRAKIT_KEY, XtraKitConfig, create_app


async def test_stats_reports_requests_windows_and_counts(make_xtrakit, clock):
    """stats: counts per status, busiest minute per key, live record counts, knobs."""
    client = await make_xtrakit(rate_limit=2, clock=clock)
    for _ in range(3):
        await client.get(CUSTOMERS, headers=AUTH)
    await client.get(CUSTOMERS)
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["requests"] == 4
    assert stats["by_status"] == {"200": 2, "401": 1, "429": 1}
    assert stats["max_in_window"] == {KEY: 2}
    assert stats["records"] == {"customers": 120, "items": 90, "categories": 12, "sales": 150}
    assert stats["generation"] == 0
    assert stats["config"]["rate_limit"] == 2
    assert "api_keys" not in stats["config"]


async def test_control_routes_are_not_logged_or_limited(make_xtrakit, clock):
    """Control routes need no key, are never rate limited or suspended, and are not logged."""
    client = await make_xtrakit(rate_limit=1, suspended=True, clock=clock)
    for _ in range(5):
        assert (await client.get("/_sandbox/stats")).status == 200
    assert (await client.post("/_sandbox/config", json={})).status == 200
    assert client.app[XTRAKIT_KEY].request_log == []


async def test_generation_route(make_xtrakit):
    """POST /_sandbox/generation runs a generation and reports counts and ids per collection."""
    client = await make_xtrakit()
    response = await client.post(
        "/_sandbox/generation", json={"change_pct": 10, "delete_pct": 5, "insert_pct": 5}
    )
    body = orjson.loads(await response.read())
    assert body["generation"] == 1
    assert body["changed"] == {"customers": 12, "items": 9, "categories": 1, "sales": 15}
    assert body["inserted"]["sales"] == 8
    assert len(body["deleted_ids"]["customers"]) == 6
    assert body["inserted_ids"]["customers"] == [121, 122, 123, 124, 125, 126]
    default = orjson.loads(await (await client.post("/_sandbox/generation")).read())
    assert default["generation"] == 2
    assert (await client.post("/_sandbox/generation", json={"change_pct": "x"})).status == 400
    assert (await client.post("/_sandbox/generation", json={"change_pct": 101})).status == 400
    assert (await client.post("/_sandbox/generation", json={"bogus": 1})).status == 400


async def test_config_route_changes_knobs(make_xtrakit):
    """POST /_sandbox/config sets runtime knobs and rejects unknown knobs and bad values."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    response = await client.post(
        "/_sandbox/config",
        json={"rate_limit": 5, "pagination": False, "api_keys": ["k2"]},
    )
    assert orjson.loads(await response.read()) == {
        "rate_limit": 5,
        "pagination": False,
        "api_keys": ["k2"],
    }
    assert (sb.config.rate_limit, sb.config.pagination) == (5, False)
    assert sb.config.api_keys == ("k2",)
    for bad in (
        {"rate_limit": "x"},
        {"suspended": 1},
        {"seed": 3},
        {"latency_ms": -1},
        {"api_keys": "k3"},
        {"max_per_page": 10},  # below default_per_page 20
    ):
        assert (await client.post("/_sandbox/config", json=bad)).status == 400, bad
    assert (await client.post("/_sandbox/config", data=b"[1]")).status == 400
    assert sb.config.rate_limit == 5


async def test_mounted_under_xtrakit_as_a_sub_app():
    """Mounted at /xtrakit, the API answers at /xtrakit/api/v1 and logs the full path."""
    parent = web.Application()
    app = create_app(XtraKitConfig(customers=30, items=5, categories=2, sales=5))
    parent.add_subapp("/xtrakit", app)
    async with TestClient(TestServer(parent, host="127.0.0.1")) as client:
        response = await client.get("/xtrakit/api/v1/customers", headers=AUTH)
        assert orjson.loads(await response.read())["message"] == "Customers found: 20"
        missing = await client.get("/xtrakit/api/v1/nothing", headers=AUTH)
        assert orjson.loads(await missing.read())["status"] == 404
        assert (await client.get("/xtrakit/_sandbox/stats")).status == 200
    assert [(e.path, e.status) for e in app[XTRAKIT_KEY].request_log] == [
        ("/xtrakit/api/v1/customers", 200),
        ("/xtrakit/api/v1/nothing", 404),
    ]
