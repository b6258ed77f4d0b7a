"""Entities, v4 lookups and searches, table structures, 403 and 404."""

from __future__ import annotations

import pytest

from .helpers import PROFILES, RECORDS, V4_PROFILE, V4_RECORDS, bearer, get_json, sandbox, values


@pytest.mark.parametrize("path", ["/entities/v5/entities", "/v5/entities"])
async def test_entities_on_both_path_families(make_actito, path):
    """The entity list, served under the service prefix and without it."""
    client = await make_actito()
    status, body = await get_json(client, path, await bearer(client))
    assert (status, body) == (200, {"entities": [{"id": 1, "name": "sandbox", "comment": None}]})
    assert sandbox(client).records("entities") == body["entities"]


async def test_v4_profile_lookups_by_id_and_unique_attribute(make_actito):
    """`profile/{id}` and `profile/{attr}={value}` find the profile the list serves."""
    client = await make_actito()
    headers = await bearer(client)
    profile = sandbox(client).records("profiles")[41]
    attributes = values(profile)
    pid = profile["profileId"]
    for ref in (
        str(pid),
        f"profileId={pid}",
        f"customerId={attributes['customerId']}",
        f"emailAddress={attributes['emailAddress']}",
    ):
        status, body = await get_json(client, V4_PROFILE + ref, headers)
        assert (status, body) == (200, profile), ref


async def test_v4_profile_lookup_misses_and_bad_references(make_actito):
    """No such profile: 404; a non-unique attribute or a non-integer id: 400."""
    client = await make_actito()
    headers = await bearer(client)
    for ref in ("999999", "customerId=C-99999", "emailAddress=nobody@example.com"):
        status, body = await get_json(client, V4_PROFILE + ref, headers)
        assert (status, body["error"]) == (404, "Not Found"), ref
    for ref in ("firstName=Emma", "abc"):
        assert (await get_json(client, V4_PROFILE + ref, headers))[0] == 400, ref


@pytest.mark.parametrize("prefix", ["", "/custom-data"])
async def test_v4_custom_record_search_and_get(make_actito, prefix):
    """searchField/searchValue returns every match; `record/{businessKey}` returns one."""
    client = await make_actito()
    headers = await bearer(client)
    records = sandbox(client).records("custom")
    customer = values(records[0])["customerId"]
    expected = [r for r in records if values(r)["customerId"] == customer]
    path = prefix + V4_RECORDS
    status, body = await get_json(
        client, path, headers, searchField="customerId", searchValue=customer
    )
    assert (status, body) == (200, {"records": expected})
    key = records[5]["businessKey"]
    status, body = await get_json(client, path, headers, searchField="orderId", searchValue=key)
    assert body == {"records": [records[5]]}
    amount = values(records[5])["amount"]
    status, body = await get_json(
        client, path, headers, searchField="amount", searchValue=str(amount)
    )
    assert records[5] in body["records"]
    assert await get_json(client, f"{path}/{key}", headers) == (200, records[5])
    assert (await get_json(client, f"{path}/ORD-9999999999999999", headers))[0] == 404


async def test_v4_custom_record_search_errors(make_actito):
    """Nothing matches: 404; a missing criterion or an unknown field: 400."""
    client = await make_actito()
    headers = await bearer(client)
    miss = await get_json(client, V4_RECORDS, headers, searchField="status", searchValue="LOST")
    assert miss[0] == 404
    assert (await get_json(client, V4_RECORDS, headers))[0] == 400
    assert (await get_json(client, V4_RECORDS, headers, searchField="status"))[0] == 400
    unknown = await get_json(client, V4_RECORDS, headers, searchField="colour", searchValue="x")
    assert unknown[0] == 400


@pytest.mark.parametrize("prefix", ["/profile-table-structure", ""])
async def test_profile_table_structure_describes_the_data(make_actito, prefix):
    """Every served attribute is declared; unique ones are unique, mandatory ones never null."""
    client = await make_actito()
    headers = await bearer(client)
    base = prefix + "/v5/entities/sandbox/profile-tables"
    status, listing = await get_json(client, base, headers)
    assert status == 200
    [table] = listing["profileTables"]
    assert table["name"] == "customers"
    for ref in ("customers", table["id"]):
        assert await get_json(client, f"{base}/{ref}", headers) == (200, table)
    declared = {a["name"]: a for a in table["attributes"]}
    assert all({"unique", "mandatory", "valueType"} <= set(a) for a in declared.values())
    profiles = sandbox(client).records("profiles")
    for profile in profiles:
        assert set(values(profile)) | {"profileId"} == set(declared)
    flat = [{"profileId": p["profileId"]} | values(p) for p in profiles]
    for name, attribute in declared.items():
        seen = [row[name] for row in flat]
        if attribute["mandatory"]:
            assert None not in seen, name
        if attribute["unique"]:
            assert len(set(seen)) == len(seen), name
    assert any(v is None for p in profiles for v in values(p).values())  # some values are null


@pytest.mark.parametrize("prefix", ["/custom-table-structure", ""])
async def test_custom_table_structure_describes_the_data(make_actito, prefix):
    """The primary key attribute holds the businessKey; every property is declared."""
    client = await make_actito()
    headers = await bearer(client)
    base = prefix + "/v5/entities/sandbox/custom-tables"
    status, listing = await get_json(client, base, headers)
    assert status == 200
    [table] = listing["customTables"]
    assert (table["name"], table["primaryKeyAttribute"]) == ("orders", "orderId")
    assert table["creationTimeAttribute"] == "creationMoment"
    assert table["foreignKeys"][0]["onDelete"] == "CASCADE"
    for ref in ("orders", table["id"]):
        assert await get_json(client, f"{base}/{ref}", headers) == (200, table)
    declared = {a["name"] for a in table["attributes"]}
    for record in sandbox(client).records("custom"):
        assert set(values(record)) == declared
        assert values(record)["orderId"] == record["businessKey"]
    assert (await get_json(client, f"{base}/customers", headers))[0] == 404


async def test_unknown_entity_or_table_is_404(make_actito):
    """Every route checks the entity and the table."""
    client = await make_actito()
    headers = await bearer(client)
    for path in (
        PROFILES.replace("/sandbox/", "/other/"),
        PROFILES.replace("/customers/", "/prospects/"),
        RECORDS.replace("/orders/", "/customers/"),
        V4_PROFILE.replace("/customers/", "/orders/") + "1",
        V4_RECORDS.replace("/sandbox/", "/other/") + "/ORD-0000000000000001",
        "/profile-table-structure/v5/entities/other/profile-tables",
    ):
        status, body = await get_json(client, path, headers)
        assert (status, body["status"]) == (404, 404), path


async def test_forbidden_table_is_403_on_data_routes(make_actito):
    """A table listed in forbidden_tables refuses its data (its structure stays readable)."""
    client = await make_actito(forbidden_tables=("orders",))
    headers = await bearer(client)
    assert (await get_json(client, RECORDS, headers))[0] == 403
    status, body = await get_json(client, V4_RECORDS + "/ORD-0000000000000001", headers)
    assert (status, body["error"]) == (403, "Forbidden")
    assert (await get_json(client, PROFILES, headers))[0] == 200
    structure = "/custom-table-structure/v5/entities/sandbox/custom-tables/orders"
    assert (await get_json(client, structure, headers))[0] == 200
    sandbox(client).config.forbidden_tables = ("1",)  # the profile table, by id
    assert (await get_json(client, V4_PROFILE + "1", headers))[0] == 403
    assert (await get_json(client, PROFILES, headers))[0] == 403
    assert (await get_json(client, RECORDS, headers))[0] == 200
