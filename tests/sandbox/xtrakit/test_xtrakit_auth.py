"""Auth (401), the suspended-account switch (402), the key check and the envelope of errors."""

from __future__ import annotations

import orjson
from xtrakit_support import API, AUTH, CUSTOMERS, KEY, LISTS, get_body

from syncer.sandbox.xtrakit import XTRAKIT_KEY

UNAUTHENTICATED = {"status": 401, "message": "Unauthenticated", "data": None}


async def test_missing_or_wrong_key_is_401_in_the_envelope(make_xtrakit):
    """No key, a wrong key or another scheme: 401 with the documented envelope and data null."""
    client = await make_xtrakit()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}):
        for path in [*LISTS, API + "/user/authenticate"]:
            response = await client.get(path, headers=headers)
            assert response.status == 401
            assert response.content_type == "application/json"
            assert orjson.loads(await response.read()) == UNAUTHENTICATED


async def test_authenticate_route_checks_the_key(make_xtrakit):
    """GET /user/authenticate answers 200 for a valid key, with the account it belongs to."""
    client = await make_xtrakit()
    body = await get_body(client, API + "/user/authenticate")
    assert (body["status"], body["message"]) == (200, "Authenticated")
    assert set(body["data"]) == {"user_id", "business_code"}
    assert body["data"]["user_id"] == client.app[XTRAKIT_KEY].records("customers")[0]["user_id"]


async def test_key_reset_invalidates_the_old_key(make_xtrakit):
    """Replacing api_keys (the dashboard's key reset) makes the old key 401 at once."""
    client = await make_xtrakit()
    client.app[XTRAKIT_KEY].config.api_keys = ("fresh-key",)
    await get_body(client, CUSTOMERS, expect=401)
    await get_body(client, CUSTOMERS, headers={"Authorization": "Bearer fresh-key"})


async def test_suspended_account_is_402_on_every_authenticated_call(make_xtrakit):
    """With the suspended knob on, every authenticated call is 402; bad keys still get 401."""
    client = await make_xtrakit(suspended=True)
    for path in [*LISTS, API + "/user/authenticate"]:
        body = await get_body(client, path, expect=402)
        assert body == {"status": 402, "message": "Payment required", "data": None}
    await get_body(client, CUSTOMERS, expect=401, headers={})
    client.app[XTRAKIT_KEY].config.suspended = False
    await get_body(client, CUSTOMERS)


async def test_unknown_route_and_method_answer_in_the_envelope(make_xtrakit):
    """An unknown path is 404 and a known path with another method 405, both enveloped."""
    client = await make_xtrakit()
    assert await get_body(client, API + "/nothing", expect=404) == {
        "status": 404,
        "message": "Not Found",
        "data": None,
    }
    response = await client.post(CUSTOMERS, headers=AUTH)
    assert response.status == 405
    assert orjson.loads(await response.read())["status"] == 405
