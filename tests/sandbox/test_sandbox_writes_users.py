"""User writes: grant access (upsert), revoke groups, remove projects, (de)activate."""

from __future__ import annotations

from exto_support import send

from syncer.sandbox.exto import EXTO_KEY

ACCESS = "/data/api/v1/user/user-access"
PROJECT_ACCESS = "/data/api/v1/user/project-access"
ACTIVATE = "/data/api/v1/user/activate-users"
DEACTIVATE = "/data/api/v1/user/deactivate-users"
NEW_USER = {
    "user": {
        "userName": "John.Doe@Example.com",
        "firstName": "John",
        "lastName": "Doe",
        "email": "john.doe@example.com",
        "applicationRole": "PME",
    },
    "projects": [{"projectId": "p6iDlWb", "groups": ["G1"], "spaces": ["S1"]}],
    "groups": ["G1"],
}


async def by_user(client, name):
    return await send(client, "GET", ACCESS + "/by-user", username=name)


async def test_grant_access_creates_then_updates_the_user(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    answer = await send(client, "POST", ACCESS, NEW_USER)
    assert answer["insertedCount"] == 1 and answer["updatedCount"] == 0
    [new_id] = answer["insertedIds"]
    assert len(new_id) == 24
    entry = await by_user(client, "john.doe@example.com")
    assert entry["user"]["userName"] == entry["user"]["email"] == "john.doe@example.com"
    assert (entry["user"]["fullName"], entry["user"]["status"]) == ("John Doe", 1)
    assert entry["groups"] == ["G1"]
    assert entry["projects"] == [{"projectID": "p6iDlWb", "groups": ["G1"], "spaces": ["S1"]}]
    # the OpenAPI form, for a known user: access added, nothing removed
    more = {"username": "JOHN.DOE@example.com", "projects": ["Vx6-j2Z"], "groups": ["G2"]}
    answer = await send(client, "POST", ACCESS, more)
    assert answer == {"insertedIds": [], "insertedCount": 0, "updatedCount": 1}
    entry = await by_user(client, "john.doe@example.com")
    assert entry["groups"] == ["G1", "G2"]
    assert [p["projectID"] for p in entry["projects"]] == ["p6iDlWb", "Vx6-j2Z"]
    # the same grant again changes nothing: answered as an update, not in the ledger
    await send(client, "POST", ACCESS, more)
    assert [(w.operation, w.keys, w.inserted, w.updated) for w in sb.ledger] == [
        ("user.upsert", ("john.doe@example.com",), 1, 0),
        ("user.upsert", ("john.doe@example.com",), 0, 1),
    ]
    assert len(sb.records("users")) == 31


async def test_grant_access_refusals(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    other_email = NEW_USER | {"user": NEW_USER["user"] | {"email": "jd@example.com"}}
    answer = await send(client, "POST", ACCESS, other_email, 400)
    assert answer["error"]["detail"] == ["userName and email must be the same"]
    many = NEW_USER | {"projects": ["p6iDlWb"] * 60, "groups": ["G1"] * 41}
    answer = await send(client, "POST", ACCESS, many, 400)
    assert answer["error"]["detail"] == ["Projects and groups must not exceed 100 in total"]
    answer = await send(client, "POST", ACCESS, NEW_USER | {"groups": ["G"] * 101}, 400)
    assert answer["error"]["detail"] == ["Groups length must not exceed 100"]
    answer = await send(client, "POST", ACCESS, NEW_USER | {"projects": ["nope"]}, 400)
    assert answer["error"]["detail"] == ["Project nope not found."]
    await send(client, "POST", ACCESS, [NEW_USER], 400)
    assert sb.ledger == [] and len(sb.records("users")) == 30


async def test_revoke_groups_and_remove_projects(make_client):
    client = await make_client()
    await send(client, "POST", ACCESS, NEW_USER)
    grant = {"username": "john.doe@example.com", "projects": ["Vx6-j2Z"], "groups": ["G2"]}
    await send(client, "POST", ACCESS, grant)
    revoke = {
        "username": "John.Doe@example.com",
        "projects": [{"projectId": "p6iDlWb", "groups": ["G1"]}],
        "groups": ["G1"],
    }
    assert await send(client, "DELETE", ACCESS, revoke) == {"status": "success"}
    entry = await by_user(client, "john.doe@example.com")
    assert entry["groups"] == ["G2"]
    assert entry["projects"][0] == {"projectID": "p6iDlWb", "groups": [], "spaces": ["S1"]}
    # nothing to remove: Exto answers an empty body
    nothing = {"username": "john.doe@example.com", "projects": [], "groups": []}
    assert await send(client, "DELETE", ACCESS, nothing) is None
    body = {"username": "john.doe@example.com", "projectIds": ["p6iDlWb"]}
    assert await send(client, "DELETE", PROJECT_ACCESS, body) == {"status": "success"}
    entry = await by_user(client, "john.doe@example.com")
    assert [p["projectID"] for p in entry["projects"]] == ["Vx6-j2Z"]
    ops = [w.operation for w in client.app[EXTO_KEY].ledger]
    assert ops == ["user.upsert", "user.upsert", "user.revoke", "user.remove_projects"]


async def test_revoke_refusals(make_client):
    client = await make_client()
    answer = await send(client, "DELETE", ACCESS, {"projects": []}, 400)
    assert answer["error"]["detail"] == ["Missing username/projects."]
    answer = await send(client, "DELETE", ACCESS, {"username": "x@example.com"}, 400)
    assert answer["error"]["detail"] == ["Missing username/projects."]
    body = {"username": "x@example.com", "projectIds": ["p"] * 101}
    answer = await send(client, "DELETE", PROJECT_ACCESS, body, 400)
    assert answer["error"]["detail"] == ["ProjectIds length must not exceed 100"]
    body = {"username": "nobody@example.com", "projectIds": ["p6iDlWb"]}
    answer = await send(client, "DELETE", PROJECT_ACCESS, body, 400)
    assert answer["error"]["detail"] == ["User nobody@example.com not found."]
    assert client.app[EXTO_KEY].ledger == []


async def test_activation_answers_the_raw_bulk_result(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    users = [u["user"] for u in sb.records("users")]
    inactive = next(u["userName"] for u in users if u["status"] == 0)
    active = next(u["userName"] for u in users if u["status"] == 1)
    names = [inactive.upper(), active, "nobody@example.com", inactive]
    answer = await send(client, "PATCH", ACTIVATE, names)
    assert set(answer) == {
        "ok",
        "writeErrors",
        "writeConcernErrors",
        "insertedIds",
        "nInserted",
        "nUpserted",
        "nMatched",
        "nModified",
        "nRemoved",
        "upserted",
        "opTime",
    }
    assert (answer["ok"], answer["nMatched"], answer["nModified"], answer["nRemoved"]) == (
        1,
        2,
        1,
        0,
    )
    assert answer["writeErrors"] == answer["upserted"] == answer["insertedIds"] == []
    assert int(answer["opTime"]["ts"]["$timestamp"]) >> 32 > 1_700_000_000
    assert (await by_user(client, inactive))["user"]["status"] == 1
    [entry] = sb.ledger
    assert (entry.operation, entry.keys, entry.updated) == ("user.activate", (inactive,), 1)
    answer = await send(client, "PATCH", DEACTIVATE, [active])
    assert (answer["nMatched"], answer["nModified"]) == (1, 1)
    # a deactivated user can no longer write module records
    row = [{"recordNumber": "INSP-999"}]
    answer = await send(
        client, "POST", "/data/api/v1/module-record/INSPECTION", row, 400, userName=active
    )
    assert answer["error"]["detail"] == ["User not found or active"]
    await send(client, "PATCH", DEACTIVATE, [], 400)
    await send(client, "PATCH", DEACTIVATE, ["a"] * 1001, 400)
    await send(client, "PATCH", DEACTIVATE, [1], 400)
    assert [w.operation for w in sb.ledger] == ["user.activate", "user.deactivate"]
