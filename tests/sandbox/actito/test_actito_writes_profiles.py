"""Profile writes: create, 409 on a duplicate, allowUpdate merges, 400s, both path families."""

from __future__ import annotations

import pytest

from .helpers import (
    PROFILES,
    V4_PROFILE,
    V4_PROFILES,
    bearer,
    get_json,
    pairs,
    profile_body,
    sandbox,
    send,
    values,
)

V5_PROFILES = PROFILES  # the v5 list path also takes POST (create-or-update)


async def test_create_answers_201_with_a_new_profile_id_and_reads_see_it(make_actito, clock):
    """A new profile gets the next id above the max, the write time, and is readable at once."""
    client = await make_actito(clock=clock)
    headers = await bearer(client)
    sb = sandbox(client)
    highest = sb.records("profiles")[-1]["profileId"]
    clock.advance(5)
    response = await client.post(V4_PROFILES, headers=headers, json=profile_body())
    assert response.status == 201
    body = await response.json()
    assert body == {"profileId": highest + 1}
    assert response.headers["Location"] == f"{V4_PROFILES}/{highest + 1}"
    status, profile = await get_json(
        client, V4_PROFILE + "emailAddress=new.person@example.com", headers
    )
    assert status == 200
    attributes = values(profile)
    assert attributes["creationMoment"] == attributes["updateMoment"] == "2025-07-01 00:00:05"
    assert (attributes["lastName"], attributes["birthDate"], attributes["gsmNumber"]) == (
        "Lovelace",
        None,
        None,
    )
    assert profile["subscriptions"] == [{"name": "Newsletter", "subscribe": True}]
    assert profile["segmentations"] == []
    assert sb.records("profiles")[-1] == profile
    _, page = await get_json(client, PROFILES, headers, limit="1000")
    assert page["profiles"][-1] == profile


async def test_existing_unique_attribute_without_allow_update_is_409(make_actito):
    """`create` refuses a duplicate emailAddress or customerId and changes nothing."""
    client = await make_actito()
    headers = await bearer(client)
    sb = sandbox(client)
    existing = values(sb.records("profiles")[3])
    before = sb.records("profiles")
    for body in (
        profile_body(email=existing["emailAddress"]),
        profile_body(customer=existing["customerId"]),
    ):
        status, error = await send(client, "POST", V4_PROFILES, headers, body)
        assert (status, error["status"], error["error"]) == (409, 409, "Conflict")
        assert "allowUpdate" in error["message"]
        status, _ = await send(client, "POST", V4_PROFILES, headers, body, allowUpdate="false")
        assert status == 409
    assert sb.records("profiles") == before
    assert sb.ledger == []


async def test_allow_update_merges_the_given_attributes(make_actito, clock):
    """With allowUpdate=true the match keeps what is not sent and gets a new updateMoment."""
    client = await make_actito(clock=clock)
    headers = await bearer(client)
    sb = sandbox(client)
    old = sb.records("profiles")[7]
    pid, before = old["profileId"], values(old)
    clock.advance(65)
    body = {
        "attributes": pairs(customerId=before["customerId"], loyaltyPoints=77, gsmNumber=None),
        "subscriptions": [{"name": "Newsletter", "subscribe": False}],
    }
    status, answer = await send(client, "POST", V4_PROFILES, headers, body, allowUpdate="true")
    assert (status, answer) == (200, {"profileId": pid})
    _, profile = await get_json(client, V4_PROFILE + str(pid), headers)
    after = values(profile)
    assert after == before | {
        "loyaltyPoints": 77,
        "gsmNumber": None,
        "updateMoment": "2025-07-01 00:01:05",
    }
    assert profile["subscriptions"] == [{"name": "Newsletter", "subscribe": False}]
    assert len(sb.records("profiles")) == 300


async def test_allow_update_creates_when_nothing_matches(make_actito):
    """allowUpdate=true makes the create an upsert: no match → a new profile (201)."""
    client = await make_actito()
    headers = await bearer(client)
    status, body = await send(
        client, "POST", V4_PROFILES, headers, profile_body(), allowUpdate="TRUE"
    )
    assert status == 201
    assert values(sandbox(client).records("profiles")[-1])["customerId"] == "C-90001"
    assert sandbox(client).records("profiles")[-1]["profileId"] == body["profileId"]


async def test_unique_attributes_of_two_profiles_are_409_even_with_allow_update(make_actito):
    """An e-mail of one profile and the customerId of another cannot be merged."""
    client = await make_actito()
    headers = await bearer(client)
    rows = sandbox(client).records("profiles")
    a, b = values(rows[1]), values(rows[2])
    body = {"attributes": pairs(emailAddress=a["emailAddress"], customerId=b["customerId"])}
    status, error = await send(client, "POST", V4_PROFILES, headers, body, allowUpdate="true")
    assert status == 409
    assert "several profiles" in error["message"]


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"lastName": None}, "lastName"),  # mandatory, null on a create
        ({"profileId": 5}, "profileId"),
        ({"creationMoment": "2025-01-01 00:00:00"}, "creationMoment"),
        ({"updateMoment": "2025-01-01 00:00:00"}, "updateMoment"),
        ({"shoeSize": 44}, "shoeSize"),
        ({"loyaltyPoints": "many"}, "loyaltyPoints"),
        ({"loyaltyPoints": 1.5}, "loyaltyPoints"),
        ({"motherLanguage": "ES"}, "motherLanguage"),
        ({"birthDate": "1990-02-31"}, "birthDate"),
        ({"customerId": "C" * 256}, "customerId"),
    ],
)
async def test_invalid_attributes_are_400_naming_them(make_actito, attributes, named):
    """Missing mandatory, technical, unknown, mistyped or restricted attributes → 400."""
    client = await make_actito()
    headers = await bearer(client)
    body = profile_body()
    fields = {pair["name"]: pair["value"] for pair in body["attributes"]} | attributes
    body["attributes"] = pairs(**fields)
    status, error = await send(client, "POST", V4_PROFILES, headers, body, allowUpdate="true")
    assert (status, error["error"]) == (400, "Bad Request")
    assert named in error["message"]
    assert len(sandbox(client).records("profiles")) == 300


async def test_missing_mandatory_attributes_are_listed(make_actito):
    """A create without lastName and loyaltyPoints names both; an update may omit them."""
    client = await make_actito()
    headers = await bearer(client)
    body = {
        "attributes": pairs(emailAddress="x@example.com", customerId="C-1", motherLanguage="FR")
    }
    status, error = await send(client, "POST", V4_PROFILES, headers, body)
    assert status == 400
    assert error["message"] == "Missing mandatory attribute(s): lastName, loyaltyPoints"
    existing = values(sandbox(client).records("profiles")[0])
    update = {"attributes": pairs(emailAddress=existing["emailAddress"], lastName=None)}
    status, error = await send(client, "POST", V4_PROFILES, headers, update, allowUpdate="true")
    assert status == 400
    assert "lastName" in error["message"]


@pytest.mark.parametrize(
    ("body", "params", "says"),
    [
        ("not an object", {}, "JSON object"),
        ({}, {}, "attributes is required"),
        ({"attributes": {"emailAddress": "a@b.c"}}, {}, "attributes is required"),
        ({"attributes": [{"name": "lastName"}]}, {}, "{name, value}"),
        ({"attributes": pairs(lastName="A") + pairs(lastName="B")}, {}, "appears twice"),
        ({"attributes": [], "profileId": 1}, {}, "Unknown field(s) in the body: profileId"),
        ({"attributes": [], "subscriptions": [{"name": "Promo", "subscribe": True}]}, {}, "Promo"),
        (
            {"attributes": [], "subscriptions": [{"name": "Newsletter", "subscribe": "yes"}]},
            {},
            "subscribe: bool",
        ),
        ({"attributes": [], "segmentations": [{"name": "VIP"}]}, {}, "segmentation"),
        ({"attributes": [], "dataCollectionInformation": "web"}, {}, "dataCollectionInformation"),
        ({"attributes": []}, {"allowUpdate": "maybe"}, "allowUpdate"),
    ],
)
async def test_malformed_profile_bodies_are_400(make_actito, body, params, says):
    """Shape errors in the body or the allowUpdate parameter → 400 saying so, nothing written."""
    client = await make_actito()
    headers = await bearer(client)
    status, error = await send(client, "POST", V4_PROFILES, headers, body, **params)
    assert status == 400
    assert says in error["message"]
    assert sandbox(client).ledger == []


async def test_body_that_is_not_json_is_400(make_actito):
    """An unparsable or empty body → 400."""
    client = await make_actito()
    headers = await bearer(client)
    for data in (b"{oops", b""):
        response = await client.post(V4_PROFILES, headers=headers, data=data)
        assert response.status == 400
        assert "JSON" in (await response.json())["message"]


async def test_v5_family_creates_updates_and_deletes_profiles(make_actito):
    """POST on the v5 list path and DELETE `.../profiles/{id}` behave like their v4 twins."""
    client = await make_actito()
    headers = await bearer(client)
    status, body = await send(client, "POST", V5_PROFILES, headers, profile_body())
    assert status == 201
    pid = body["profileId"]
    update = {"attributes": pairs(customerId="C-90001", lastName="Byron")}
    status, _ = await send(client, "POST", V5_PROFILES, headers, update)
    assert status == 409
    status, body = await send(client, "POST", V5_PROFILES, headers, update, allowUpdate="true")
    assert (status, body) == (200, {"profileId": pid})
    assert values(sandbox(client).records("profiles")[-1])["lastName"] == "Byron"
    assert (await send(client, "DELETE", f"{V5_PROFILES}/{pid}", headers))[0] == 204
    assert (await get_json(client, V4_PROFILE + str(pid), headers))[0] == 404


async def test_profile_delete_by_id_or_unique_attribute(make_actito):
    """DELETE → 204 and the profile is gone; again → 404; forbidden table → 403."""
    client = await make_actito()
    headers = await bearer(client)
    rows = sandbox(client).records("profiles")
    first, second = rows[0]["profileId"], values(rows[1])["customerId"]
    assert await send(client, "DELETE", f"{V4_PROFILES}/{first}", headers) == (204, None)
    assert (await send(client, "DELETE", f"{V4_PROFILES}/{first}", headers))[0] == 404
    assert (await send(client, "DELETE", f"{V4_PROFILES}/customerId={second}", headers))[0] == 204
    assert len(sandbox(client).records("profiles")) == 298
    sandbox(client).config.forbidden_tables = ("customers",)
    assert (await send(client, "DELETE", f"{V4_PROFILES}/{rows[2]['profileId']}", headers))[
        0
    ] == 403
    assert (await send(client, "POST", V4_PROFILES, headers, profile_body()))[0] == 403
