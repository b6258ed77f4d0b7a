"""Token exchange, token expiry on the sandbox clock, 401/406 and the error body."""

from __future__ import annotations

import uuid

import orjson
import pytest

from .helpers import KEY, PROFILES, TOKEN, bearer, get_json, sandbox


async def test_token_response_has_actitos_shape(make_actito):
    """A raw API key buys a bearer token; expiresIn is a string with an `s` suffix."""
    client = await make_actito()
    response = await client.get(TOKEN, headers={"Authorization": KEY, "Accept": "application/json"})
    assert response.status == 200
    assert response.content_type == "application/json"
    body = orjson.loads(await response.read())
    assert set(body) == {"accessToken", "tokenType", "expiresIn", "scope", "jti"}
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == "900s"
    assert body["scope"] == "read write"
    uuid.UUID(body["jti"])
    assert len(body["accessToken"]) >= 32
    sb = sandbox(client)
    assert sb.token_requests == 1
    entry = sb.request_log[-1]
    assert (entry.method, entry.path, entry.token, entry.status) == ("GET", TOKEN, KEY, 200)


async def test_each_token_is_new(make_actito):
    """Two exchanges give two different tokens, both usable."""
    client = await make_actito()
    first, second = await bearer(client), await bearer(client)
    assert first != second
    for headers in (first, second):
        assert (await client.get(PROFILES, headers=headers)).status == 200
    assert sandbox(client).token_requests == 2


async def test_token_expires_after_its_ttl_on_the_clock(make_actito, clock):
    """A token works until ttl seconds after issue, then every data call is 401."""
    client = await make_actito(token_ttl_seconds=2, clock=clock)
    response = await client.get(TOKEN, headers={"Authorization": KEY})
    body = orjson.loads(await response.read())
    assert body["expiresIn"] == "2s"
    headers = {"Authorization": f"Bearer {body['accessToken']}"}
    assert (await client.get(PROFILES, headers=headers)).status == 200
    clock.advance(1.999)
    assert (await client.get(PROFILES, headers=headers)).status == 200
    clock.advance(0.001)
    status, error = await get_json(client, PROFILES, headers)
    assert status == 401
    assert error == {"status": 401, "error": "Unauthorized", "message": "Access token expired"}
    assert (await client.get(PROFILES, headers=await bearer(client))).status == 200


async def test_bad_or_missing_api_key_is_401(make_actito):
    """No key, an unknown key or a key sent with a scheme: 401 and no token counted."""
    client = await make_actito()
    for headers in ({}, {"Authorization": "nope"}, {"Authorization": f"Bearer {KEY}"}):
        response = await client.get(TOKEN, headers=headers)
        assert response.status == 401
        body = orjson.loads(await response.read())
        assert (body["status"], body["error"]) == (401, "Unauthorized")
        assert body["message"]
    sb = sandbox(client)
    assert sb.token_requests == 0
    assert [e.token for e in sb.request_log] == [None, "nope", f"Bearer {KEY}"]


async def test_every_configured_key_works_and_removing_one_revokes_its_tokens(make_actito):
    """api_keys lists the accepted keys; a token dies with the key that bought it."""
    client = await make_actito(api_keys=("key-a", "key-b"))
    a, b = await bearer(client, "key-a"), await bearer(client, "key-b")
    sandbox(client).config.api_keys = ("key-b",)
    assert (await client.get(PROFILES, headers=a)).status == 401
    assert (await client.get(PROFILES, headers=b)).status == 200
    assert (await client.get(TOKEN, headers={"Authorization": "key-a"})).status == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer unknown"}, {"Authorization": KEY}, {"Authorization": "Bearer"}],
)
async def test_data_routes_need_a_valid_bearer_token(make_actito, headers):
    """Missing, unknown, raw-key or empty bearer: 401 with the JSON error body."""
    client = await make_actito()
    status, body = await get_json(client, PROFILES, headers)
    assert status == 401
    assert set(body) == {"status", "error", "message"}
    assert (body["status"], body["error"]) == (401, "Unauthorized")


async def test_accept_must_admit_json(make_actito):
    """An Accept that excludes JSON is 406, on the token route and on data routes."""
    client = await make_actito()
    headers = await bearer(client)
    for accept in ("text/xml", "text/csv, text/html"):
        token = await client.get(TOKEN, headers={"Authorization": KEY, "Accept": accept})
        assert token.status == 406
        status, body = await get_json(client, PROFILES, headers | {"Accept": accept})
        assert status == 406
        assert body["error"] == "Not Acceptable"
    for accept in ("application/json", "*/*", "text/html, application/json;q=0.9"):
        assert (await client.get(PROFILES, headers=headers | {"Accept": accept})).status == 200


async def test_unknown_path_is_404_with_the_error_body(make_actito):
    """Unknown paths answer the JSON error body too (after auth)."""
    client = await make_actito()
    status, body = await get_json(client, "/v5/nothing-here", await bearer(client))
    assert status == 404
    assert (body["status"], body["error"]) == (404, "Not Found")
    assert (await client.get("/v5/nothing-here")).status == 401
