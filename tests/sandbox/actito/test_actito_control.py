"""The `_sandbox/` control routes, config validation and mounting under a prefix."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from syncer.sandbox.actito import ACTITO_KEY, ActitoConfig, create_app

from .helpers import KEY, PROFILES, TOKEN, bearer, get_json, sandbox


async def test_stats_reports_traffic_limits_and_counts(make_actito):
    """stats: requests per status, tokens issued, peak concurrency, live counts, config."""
    client = await make_actito()
    headers = await bearer(client)
    await client.get(PROFILES, headers=headers)
    await client.get(PROFILES)
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 2, "401": 1}
    assert (stats["token_requests"], stats["max_concurrent"], stats["in_flight"]) == (1, 1, 0)
    assert stats["records"] == {"profiles": {"customers": 300}, "custom": {"orders": 200}}
    assert stats["generation"] == 0
    assert stats["config"]["max_concurrent"] == 5
    assert "api_keys" not in stats["config"]


async def test_control_routes_need_no_token_and_are_not_logged(make_actito):
    """Control routes skip auth and limits and stay out of the request log."""
    client = await make_actito(max_concurrent=1)
    for _ in range(3):
        assert (await client.get("/_sandbox/stats")).status == 200
    assert (await client.get("/_sandbox/log")).status == 200
    assert (await client.get("/_sandbox/nothing")).status == 404
    assert sandbox(client).request_log == []


async def test_generation_route(make_actito):
    """POST /_sandbox/generation runs a generation and lists the keys it touched."""
    client = await make_actito()
    response = await client.post(
        "/_sandbox/generation", json={"change_pct": 10, "delete_pct": 5, "insert_pct": 5}
    )
    body = orjson.loads(await response.read())
    assert body["generation"] == 1
    assert body["counts"] == {"changed": 50, "deleted": 25, "inserted": 25}
    assert len(body["changed"]) == 50
    assert all(isinstance(k, int) for k in body["deleted"][:15])
    assert all(isinstance(k, str) for k in body["deleted"][15:])
    default = orjson.loads(await (await client.post("/_sandbox/generation")).read())
    assert default["generation"] == 2
    for bad in ({"change_pct": "x"}, {"bogus": 1}, {"delete_pct": 101}):
        response = await client.post("/_sandbox/generation", json=bad)
        assert response.status == 400
        assert orjson.loads(await response.read())["status"] == 400


async def test_config_route_changes_runtime_knobs(make_actito):
    """POST /_sandbox/config sets knobs at once; unknown or bad ones change nothing."""
    client = await make_actito()
    response = await client.post(
        "/_sandbox/config", json={"max_concurrent": 0, "api_keys": ["other-key"]}
    )
    assert orjson.loads(await response.read()) == {"max_concurrent": 0, "api_keys": ["other-key"]}
    sb = sandbox(client)
    assert (sb.config.max_concurrent, sb.config.api_keys) == (0, ("other-key",))
    assert (await client.get(TOKEN, headers={"Authorization": KEY})).status == 401
    assert (await client.get(TOKEN, headers={"Authorization": "other-key"})).status == 200
    for bad in (
        {"profiles": 10},
        {"latency_ms": -1},
        {"retry_after": 1},
        {"list_max_limit": 0},
        {"forbidden_tables": "orders"},
        {"max_concurrent": 2, "nope": 1},
    ):
        response = await client.post("/_sandbox/config", json=bad)
        assert response.status == 400, bad
    assert sb.config.max_concurrent == 0
    assert (await client.post("/_sandbox/config", data=b"[1]")).status == 400


async def test_reset_log_clears_the_log_and_its_counters(make_actito):
    """reset-log empties the log, token count and peak; issued tokens stay valid."""
    client = await make_actito()
    headers = await bearer(client)
    await client.get(PROFILES, headers=headers)
    log = orjson.loads(await (await client.get("/_sandbox/log")).read())
    assert [(e["path"], e["token_seen"], e["status"]) for e in log] == [
        (TOKEN, True, 200),
        (PROFILES, True, 200),
    ]
    assert KEY.encode() not in orjson.dumps(log)
    assert (await client.post("/_sandbox/reset-log")).status == 200
    sb = sandbox(client)
    assert (sb.request_log, sb.token_requests, sb.max_concurrent) == ([], 0, 0)
    assert (await client.get(PROFILES, headers=headers)).status == 200


async def test_works_mounted_under_a_prefix(make_actito):
    """As a sub-app under /actito every route, cursor and control route still works."""
    actito = create_app(ActitoConfig(profiles=50, custom_records=50))
    root = web.Application()
    root.add_subapp("/actito", actito)
    client = await make_actito(app=root)
    headers = await bearer(client, prefix="/actito")
    status, page = await get_json(client, "/actito" + PROFILES, headers, limit="5")
    assert status == 200
    status, _ = await get_json(
        client, "/actito" + PROFILES, headers, limit="5", searchAfter=page["searchAfter"]
    )
    assert status == 200
    assert (await client.get("/actito/_sandbox/stats")).status == 200
    assert (await get_json(client, "/actito/v5/missing", headers))[1]["status"] == 404
    log = actito[ACTITO_KEY].request_log
    assert [e.path for e in log][:2] == ["/actito/auth/token", "/actito" + PROFILES]


@pytest.mark.parametrize(
    "knobs",
    [
        {"profiles": -1},
        {"entity": ""},
        {"token_ttl_seconds": 0},
        {"max_concurrent": -1},
        {"api_keys": "one-key"},
    ],
)
def test_config_rejects_bad_values(knobs):
    """ActitoConfig validates at construction."""
    with pytest.raises(ValueError):
        ActitoConfig(**knobs)
