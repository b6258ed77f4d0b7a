"""Paging, envelopes, sorting and scoping of the Exto list routes."""

from __future__ import annotations

import orjson

from syncer.sandbox.exto import EXTO_KEY

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
MODULES = "/data/api/v1/module-record/INSPECTION"


async def get_json(client, path, expect=200, **params):
    response = await client.get(path, params=params, headers=AUTH)
    assert response.status == expect, (await response.text())[:300]
    return orjson.loads(await response.read())


async def test_rows_envelope_reports_totals(make_client):
    """The rows envelope carries total, page, pageSize and totalPages = ceil(total / pageSize)."""
    client = await make_client()
    body = await get_json(client, MASTERS, page="2", pageSize="30")
    assert {k: body[k] for k in ("total", "page", "pageSize", "totalPages")} == {
        "total": 200,
        "page": 2,
        "pageSize": 30,
        "totalPages": 7,
    }
    assert len(body["rows"]) == 30


async def test_default_page_size_is_25_and_last_page_is_short(make_client):
    """pageSize defaults to 25; the last page holds the remainder."""
    client = await make_client()
    assert len((await get_json(client, MASTERS))["rows"]) == 25
    assert len((await get_json(client, MASTERS, page="7", pageSize="30"))["rows"]) == 20


async def test_past_the_end_page_is_empty_with_correct_totals(make_client):
    """A page past the end returns no rows but still the true total and totalPages."""
    client = await make_client()
    body = await get_json(client, MASTERS, page="99", pageSize="50")
    assert body == {"rows": [], "total": 200, "page": 99, "pageSize": 50, "totalPages": 4}


async def test_pages_cover_the_collection_exactly_once(make_client):
    """Walking every page in insertion order returns each live record once, as in sb.records()."""
    client = await make_client()
    rows = []
    for page in range(1, 5):
        rows += (await get_json(client, MASTERS, page=str(page), pageSize="60"))["rows"]
    assert rows == client.app[EXTO_KEY].records("master", "LOCATION")


async def test_page_validation_messages(make_client):
    """page < 1 or not an integer, pageSize outside 1..1000: 400 with Exto's messages."""
    client = await make_client()
    for params, message in [
        ({"page": "0"}, "Page must be greater than 0"),
        ({"page": "-3"}, "Page must be greater than 0"),
        ({"page": "abc"}, "Page must be greater than 0"),
        ({"pageSize": "0"}, "Page size must be between 1 and 1000"),
        ({"pageSize": "1001"}, "Page size must be between 1 and 1000"),
        ({"pageSize": "ten"}, "Page size must be between 1 and 1000"),
    ]:
        body = await get_json(client, MASTERS, expect=400, **params)
        assert body["code"] == 400
        assert body["path"] == "/api/v1/master-record/LOCATION"
        assert body["error"]["detail"] == [message]
    assert len((await get_json(client, MASTERS, pageSize="1000"))["rows"]) == 200


async def test_names_are_upper_cased_and_unknown_names_are_404(make_client):
    """masterName is upper-cased server side; an unknown master answers 404 with the error body."""
    client = await make_client()
    assert (await get_json(client, "/data/api/v1/master-record/location"))["total"] == 200
    assert (await get_json(client, "/data/api/v1/module-record/inspection"))["total"] == 50
    body = await get_json(client, "/data/api/v1/master-record/item_master", expect=404)
    assert body["error"]["detail"] == ["ITEM_MASTER not Found."]
    assert body["path"] == "/api/v1/master-record/item_master"


async def test_sort_ascending_and_descending(make_client):
    """sort=field ascends, sort=-field descends; ties are broken by _id."""
    client = await make_client()
    asc = (await get_json(client, MASTERS, sort="createdAt", pageSize="1000"))["rows"]
    desc = (await get_json(client, MASTERS, sort="-createdAt", pageSize="1000"))["rows"]
    assert [r["createdAt"] for r in asc] == sorted(r["createdAt"] for r in asc)
    assert desc == asc[::-1]
    by_city = (await get_json(client, MASTERS, sort="city", pageSize="1000"))["rows"]
    keys = [(r["customFields"]["city"], r["_id"]) for r in by_city]
    assert keys == sorted(keys)


async def test_sorted_pages_concatenate_to_the_full_order(make_client):
    """Descending pages of a custom field line up with one big descending page."""
    client = await make_client()
    whole = (await get_json(client, MASTERS, sort="-capacity", pageSize="1000"))["rows"]
    pages = []
    for page in range(1, 9):
        pages += (await get_json(client, MASTERS, sort="-capacity", page=str(page)))["rows"]
    assert pages == whole


async def test_project_header_scopes_records(make_client):
    """x-project-id returns only records of that project, with a matching total."""
    client = await make_client()
    records = client.app[EXTO_KEY].records("master")
    project = records[0]["projectID"]
    expected = [r for r in records if r["projectID"] == project]
    response = await client.get(
        MASTERS, params={"pageSize": "1000"}, headers=AUTH | {"X-PROJECT-ID": project}
    )
    body = orjson.loads(await response.read())
    assert body["rows"] == expected
    assert 0 < body["total"] < len(records)


async def test_module_status_parameter_filters(make_client):
    """`status` keeps module records in that workflow status."""
    client = await make_client()
    rows = (await get_json(client, MODULES, status="Approved", pageSize="1000"))["rows"]
    assert rows
    assert {r["customFields"]["status"] for r in rows} == {"Approved"}


async def test_array_envelope_for_masters(make_client):
    """With envelope "array" a master page is a bare JSON array."""
    client = await make_client(envelope="array")
    body = await get_json(client, MASTERS, page="4", pageSize="60")
    assert isinstance(body, list)
    assert body == client.app[EXTO_KEY].records("master")[180:]


async def test_user_access_shapes(make_client):
    """user-access: rows envelope by default, the seed's nested [[...]] with envelope "array"."""
    client = await make_client()
    users = client.app[EXTO_KEY].records("users")
    body = await get_json(client, "/data/api/v1/user/user-access", pageSize="20", page="2")
    assert body["rows"] == users[20:]
    assert body["total"] == 30
    assert set(body["rows"][0]) == {"user", "groups", "projects"}
    client.app[EXTO_KEY].config.envelope = "array"
    nested = await get_json(client, "/data/api/v1/user/user-access")
    assert nested == [users]


async def test_user_access_by_user(make_client):
    """by-user finds a user by userName (any case) and answers 404 for a stranger."""
    client = await make_client()
    entry = client.app[EXTO_KEY].records("users")[3]
    name = entry["user"]["userName"]
    path = "/data/api/v1/user/user-access/by-user"
    assert await get_json(client, path, username=name.upper()) == entry
    missing = await get_json(client, path, expect=404, username="nobody@example.com")
    assert missing["error"]["summary"] == "Not Found"


async def test_groups_paging(make_client):
    """Groups page the projects list; tenant groups come on page 1 only."""
    client = await make_client()
    everything = client.app[EXTO_KEY].records("groups")[0]
    path = "/data/api/v1/user/groups"
    first = await get_json(client, path, pageSize="5")
    assert (first["total"], first["totalPages"]) == (12, 3)
    assert first["rows"] == [
        {"projects": everything["projects"][:5], "groups": everything["groups"]}
    ]
    third = await get_json(client, path, pageSize="5", page="3")
    assert third["rows"] == [{"projects": everything["projects"][10:], "groups": []}]
    assert len((await get_json(client, path))["rows"][0]["projects"]) == 12


async def test_groups_only_project_groups_flag_both_spellings(make_client):
    """onlyProjectsGroups=true (and the seed's onlyProjectGroups) leaves tenant groups out."""
    client = await make_client(envelope="array")
    path = "/data/api/v1/user/groups"
    for flag in ("onlyProjectsGroups", "onlyProjectGroups"):
        body = await get_json(client, path, **{flag: "true"})
        assert body[0]["groups"] == []
        assert len(body[0]["projects"]) == 12
    assert (await get_json(client, path))[0]["groups"]
