"""Keyset paging (`limit` + `searchAfter`) of profiles and custom records."""

from __future__ import annotations

import base64

import orjson
import pytest

from .helpers import PROFILES, RECORDS, bearer, get_json, sandbox, scan


async def test_profiles_page_to_the_end_in_profile_id_order(make_actito):
    """Full pages carry a cursor; the page after the last full one is empty with null."""
    client = await make_actito()
    rows, sizes = await scan(client, PROFILES, await bearer(client), "profiles", limit=100)
    assert sizes == [100, 100, 100, 0]
    ids = [row["profileId"] for row in rows]
    assert ids == sorted(set(ids))
    assert rows == sandbox(client).records("profiles")


async def test_a_short_page_ends_the_list(make_actito):
    """A page shorter than `limit` has `searchAfter: null`."""
    client = await make_actito()
    rows, sizes = await scan(client, PROFILES, await bearer(client), "profiles", limit=70)
    assert sizes == [70, 70, 70, 70, 20]
    assert len(rows) == 300


async def test_limit_defaults_to_100(make_actito):
    """No `limit`: 100 rows (the default_limit knob), capped by list_max_limit."""
    client = await make_actito()
    headers = await bearer(client)
    status, body = await get_json(client, PROFILES, headers)
    assert (status, len(body["profiles"])) == (200, 100)
    assert set(body) == {"profiles", "searchAfter"}
    sandbox(client).config.default_limit = 250
    assert len((await get_json(client, PROFILES, headers))[1]["profiles"]) == 250


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "1001"])
async def test_limit_outside_1_to_max_is_400(make_actito, limit):
    """`limit` must be an integer from 1 to list_max_limit (1000)."""
    client = await make_actito()
    status, body = await get_json(client, PROFILES, await bearer(client), limit=limit)
    assert status == 400
    assert (body["status"], body["error"]) == (400, "Bad Request")
    assert "limit" in body["message"]


async def test_list_max_limit_knob(make_actito):
    """The cap is a knob: at 50, limit=50 passes and 51 is refused."""
    client = await make_actito(list_max_limit=50)
    headers = await bearer(client)
    assert (await get_json(client, PROFILES, headers, limit="50"))[0] == 200
    assert (await get_json(client, RECORDS, headers, limit="51"))[0] == 400


async def test_tampered_or_foreign_cursors_are_400(make_actito):
    """A cursor altered, truncated, forged, from another table or another seed is refused."""
    client = await make_actito()
    other = await make_actito(seed=2)
    headers = await bearer(client)
    _, page = await get_json(client, PROFILES, headers, limit="10")
    cursor = page["searchAfter"]
    body, signature = cursor.split(".")
    forged_body = base64.urlsafe_b64encode(orjson.dumps({"t": "profiles:customers", "k": 200}))
    _, records_page = await get_json(client, RECORDS, headers, limit="10")
    _, other_page = await get_json(other, PROFILES, await bearer(other), limit="10")
    bad = [
        body + "." + signature[::-1],
        body[:-2] + "." + signature,
        forged_body.decode().rstrip("=") + "." + signature,
        "not-a-cursor",
        "é." + signature,
        records_page["searchAfter"],
        other_page["searchAfter"],
    ]
    for text in bad:
        status, error = await get_json(client, PROFILES, headers, searchAfter=text)
        assert status == 400, text
        assert error["message"].startswith("Invalid searchAfter")
    assert (await get_json(client, PROFILES, headers, searchAfter=cursor))[0] == 200


async def test_cursor_after_a_deleted_key_still_works(make_actito):
    """The cursor holds a key, not a position: deleting that row does not break the scan."""
    client = await make_actito()
    headers = await bearer(client)
    _, page = await get_json(client, PROFILES, headers, limit="10")
    last = page["profiles"][-1]["profileId"]
    sandbox(client).data.delete_profile(last, cascade=False)
    _, after = await get_json(
        client, PROFILES, headers, limit="10", searchAfter=page["searchAfter"]
    )
    assert after["profiles"][0]["profileId"] > last
    assert after["profiles"][0] == sandbox(client).records("profiles")[9]


async def test_custom_records_page_in_business_key_order(make_actito):
    """Custom records use the same contract, under `records`, ordered by businessKey."""
    client = await make_actito()
    rows, sizes = await scan(client, RECORDS, await bearer(client), "records", limit=64)
    assert sizes == [64, 64, 64, 8]
    keys = [row["businessKey"] for row in rows]
    assert keys == sorted(set(keys))
    assert keys[0] == "ORD-0000000000000001"
    assert all(len(key) == 20 for key in keys)
    assert rows == sandbox(client).records("custom")
    first = rows[0]["properties"]
    assert [p["name"] for p in first] == [
        "orderId",
        "customerId",
        "amount",
        "currency",
        "status",
        "creationMoment",
        "updateMoment",
    ]
    assert first[0]["value"] == rows[0]["businessKey"]
