"""Exto's 414 URI Too Long: a request target (path and query, as sent) over `max_url_chars`."""

from __future__ import annotations

import orjson

from syncer.sandbox.exto import EXTO_KEY

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"


def _target(keys: int) -> str:
    """A read-back-like target holding `keys` serial numbers (`|` goes as %7C)."""
    listed = "%7C".join(str(1_000_000 + i) for i in range(keys))
    return f"{MASTERS}?filter=serial_number:NUMBER:in:{listed}&pageSize=1000"


async def test_default_limit_is_8_kb_of_target_and_answers_exto_error_body(make_client):
    """8,192 characters pass (past aiohttp's own 8,190-byte request line); one more is 414."""
    client = await make_client()
    assert client.app[EXTO_KEY].config.max_url_chars == 8192
    base = _target(700)  # 7 digits + %7C per key: about 7,000 characters
    pad = 8192 - len(base) - len("&x=")
    fits = f"{base}&x={'a' * pad}"
    assert len(fits) == 8192
    assert (await client.get(fits, headers=AUTH)).status == 200
    response = await client.get(fits + "a", headers=AUTH)
    assert response.status == 414
    body = orjson.loads(await response.read())
    assert body["code"] == 414
    assert body["path"] == "/api/v1/master-record/LOCATION"
    assert body["error"] == {
        "summary": "URI Too Long",
        "detail": ["The request URI is longer than 8192 characters."],
    }
    assert [e.status for e in client.app[EXTO_KEY].request_log] == [200, 414]


async def test_limit_is_a_runtime_knob_and_0_lifts_it(make_client):
    """`max_url_chars` changes between requests; 0 means no limit."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    long = _target(1000)  # about 10,000 characters
    assert (await client.get(long, headers=AUTH)).status == 414
    sb.config.max_url_chars = 0
    assert (await client.get(long, headers=AUTH)).status == 200
    response = await client.post("/_sandbox/config", json={"max_url_chars": 100})
    assert response.status == 200
    assert (await client.get(MASTERS + "?pageSize=1", headers=AUTH)).status == 200
    assert (await client.get(_target(20), headers=AUTH)).status == 414


async def test_414_counts_in_the_rate_window_and_follows_auth(make_client, clock):
    """A 414 is a request the token spent (after auth and the limiter, like a 400)."""
    client = await make_client(rate_limit=2, clock=clock)
    long = _target(1000)
    assert (await client.get(long)).status == 401
    assert (await client.get(long, headers=AUTH)).status == 414
    assert (await client.get(MASTERS, headers=AUTH)).status == 200
    assert (await client.get(long, headers=AUTH)).status == 429
