"""Master and module writes: upsert, validation, PATCH, DELETE, acting users, reads see writes."""

from __future__ import annotations

import orjson
from exto_support import AUTH, MASTERS, MODULES, OBJECT_ID, send

from syncer.sandbox.exto import EXTO_KEY


def by_serial(sb, serial):
    [record] = [r for r in sb.records("master") if r["customFields"]["serial_number"] == serial]
    return record


def active_user(sb, active=True):
    return next(
        u["user"]["userName"] for u in sb.records("users") if u["user"]["status"] == int(active)
    )


async def test_upsert_updates_matches_inserts_the_rest_and_lists_new_ids_only(make_client, clock):
    """A row whose serial_number exists merges into that record; other rows insert."""
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    before = by_serial(sb, 3)
    clock.advance(2.5)
    rows = [
        {"serial_number": 1001, "name": "New A", "city": "Lyon"},
        {"serial_number": 3, "city": "Quito"},
        {"serial_number": 1002, "name": "New B"},
    ]
    answer = await send(client, "POST", MASTERS, rows, 201)
    assert answer["insertedCount"] == 2 and answer["updatedCount"] == 1
    assert len(answer["insertedIds"]) == 2
    assert all(OBJECT_ID.fullmatch(i) for i in answer["insertedIds"])
    updated = by_serial(sb, 3)
    assert updated["customFields"] == before["customFields"] | {"city": "Quito"}
    assert updated["_id"] == before["_id"] and updated["createdAt"] == before["createdAt"]
    # the current generation's time (2025-07-01) + 2.5 s of sandbox clock
    assert updated["updatedAt"] == "2025-07-01T00:00:02.500Z"
    assert updated["updatedBy"] == "api@example.com"
    new = by_serial(sb, 1001)
    assert new["_id"] == new["id"] == answer["insertedIds"][0]
    assert new["customFields"] == rows[0]
    assert new["refId"] == new["slug"] and len(new["slug"]) == 7
    assert new["createdAt"] == new["updatedAt"] == "2025-07-01T00:00:02.500Z"
    assert new["createdBy"] == "api@example.com" and new["isDeleted"] is False
    assert new["projectID"] is None and new["tenantID"] == "cwWdTZK"
    assert len(sb.records("master")) == 202


async def test_a_later_row_updates_the_record_an_earlier_row_of_the_chunk_inserted(make_client):
    client = await make_client()
    rows = [{"serial_number": 5000, "name": "first"}, {"serial_number": 5000, "city": "Pune"}]
    answer = await send(client, "POST", MASTERS, rows, 201)
    assert (answer["insertedCount"], answer["updatedCount"]) == (1, 1)
    record = by_serial(client.app[EXTO_KEY], 5000)
    assert record["customFields"] == {"serial_number": 5000, "name": "first", "city": "Pune"}


async def test_token_user_and_project_scope(make_client):
    """token_users names the writer; x-project-id stamps new records and scopes matching."""
    client = await make_client(token_users={"sandbox-token": "robot@example.com"})
    sb = client.app[EXTO_KEY]
    record = by_serial(sb, 7)
    other = next(p for p in ("p6iDlWb", "Vx6-j2Z", "RLze1VG") if p != record["projectID"])
    scoped = {"x-project-id": other}
    answer = await send(client, "POST", MASTERS, [{"serial_number": 7}], 201, headers=scoped)
    assert (answer["insertedCount"], answer["updatedCount"]) == (1, 0)
    [new] = [r for r in sb.records("master") if r["_id"] == answer["insertedIds"][0]]
    assert new["projectID"] == other and new["createdBy"] == "robot@example.com"


async def test_bad_bodies_are_400_and_change_nothing(make_client):
    """Not an array, empty, over 1,000 rows, non-object rows, `_id` in a row, invalid JSON."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    for body in ({"serial_number": 1}, [], [{"serial_number": 9000 + i} for i in range(1001)], [1]):
        answer = await send(client, "POST", MASTERS, body, 400)
        assert answer["error"]["summary"] == "Bad Request"
    answer = await send(client, "POST", MASTERS, [{"serial_number": 1}] * 1001, 400)
    assert answer["error"]["detail"] == ["Maximum 1000 records allowed but received 1001"]
    answer = await send(client, "POST", MASTERS, [{"_id": "x", "serial_number": 1}], 400)
    assert answer["error"]["detail"] == ["Updating '_id' is not allowed"]
    response = await client.post(MASTERS, data=b"[{", headers=AUTH)
    assert response.status == 400
    await send(client, "POST", "/data/api/v1/master-record/ITEM_MASTER", [{"a": 1}], 404)
    assert sb.ledger == [] and len(sb.records("master")) == 200


async def test_an_invalid_row_fails_the_whole_chunk_with_per_row_detail(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    before = sb.records("master")
    rows = [
        {"serial_number": 1, "city": "Porto"},
        {"serial_number": "x"},
        {"name": "no key"},
        {"serial_number": 4, "capacity": 1.5, "tags": "A"},
        {"serial_number": 5, "opened_on": "2025-02-30", "active": "yes", "brand_new": [1]},
    ]
    answer = await send(client, "POST", MASTERS, rows, 400)
    assert answer["code"] == 400 and answer["path"] == "/api/v1/master-record/LOCATION"
    assert answer["error"] == {
        "summary": "MODULE_RECORD_VALIDATION_FAILED",
        "detail": [
            "row 2: serial_number must be a number",
            "row 3: serial_number is required (unique field)",
            "row 4: capacity must be an integer",
            "row 4: tags must be an array",
            "row 5: opened_on must be a date (YYYY-MM-DD)",
            "row 5: active must be a boolean",
        ],
    }
    assert sb.records("master") == before and sb.ledger == []


async def test_without_all_or_nothing_the_valid_rows_land_and_the_400_lists_the_rest(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    response = await client.post("/_sandbox/config", json={"all_or_nothing": False})
    assert response.status == 200
    rows = [{"serial_number": 1, "city": "Porto"}, {"serial_number": "x"}, {"serial_number": 777}]
    answer = await send(client, "POST", MASTERS, rows, 400)
    assert answer["error"]["detail"] == ["row 2: serial_number must be a number"]
    assert by_serial(sb, 1)["customFields"]["city"] == "Porto"
    assert by_serial(sb, 777)["customFields"] == {"serial_number": 777}
    [entry] = sb.ledger
    assert (entry.keys, entry.inserted, entry.updated) == (("1", "777"), 1, 1)


async def test_patch_updates_by_ref_id(make_client, clock):
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    first, second = sb.records("master")[:2]
    clock.advance(1)
    rows = [{"refId": first["refId"], "capacity": 12}, {"refId": "nope123", "capacity": 1}]
    assert await send(client, "PATCH", MASTERS, rows) == {"updatedCount": 1}
    record = by_serial(sb, first["customFields"]["serial_number"])
    assert record["customFields"] == first["customFields"] | {"capacity": 12}
    assert record["updatedAt"] == "2025-07-01T00:00:01.000Z"
    answer = await send(client, "PATCH", MASTERS, [{"refId": first["refId"], "_id": "x"}], 400)
    assert answer["error"]["detail"] == ["Updating '_id' is not allowed"]
    taken = second["customFields"]["serial_number"]
    rows = [{"refId": first["refId"], "serial_number": taken}, {"capacity": 3}]
    answer = await send(client, "PATCH", MASTERS, rows, 400)
    assert answer["error"]["detail"] == [
        f"row 1: serial_number {taken} already exists",
        "row 2: refId is required",
    ]
    assert [w.operation for w in sb.ledger] == ["master.patch"]
    assert sb.ledger[0].keys == (first["refId"],)


async def test_soft_delete_keeps_the_record_listed_as_deleted(make_client, clock):
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    first, second = sb.records("master")[:2]
    clock.advance(3)
    body = [{"refId": first["refId"]}, {"recordNumber": second["refId"]}, {"refId": "nope"}]
    answer = await send(client, "DELETE", MASTERS, body, userName=user)
    assert answer == {"success": True, "message": "Records deleted successfully"}
    page = await send(client, "GET", MASTERS, pageSize=2)
    assert page["total"] == 200
    assert [r["isDeleted"] for r in page["rows"]] == [True, True]
    assert page["rows"][0]["updatedBy"] == user
    assert page["rows"][0]["updatedAt"] == "2025-07-01T00:00:03.000Z"
    [entry] = sb.ledger
    assert (entry.operation, entry.keys, entry.deleted) == (
        "master.delete",
        (first["refId"], second["refId"]),
        2,
    )
    # deleted records are invisible to writes: a second delete changes nothing
    await send(client, "DELETE", MASTERS, body[:1], userName=user)
    assert len(sb.ledger) == 1


async def test_hard_delete_removes_the_record(make_client):
    client = await make_client(hard_delete=True)
    sb = client.app[EXTO_KEY]
    first = sb.records("master")[0]
    await send(client, "DELETE", MASTERS, [{"refId": first["refId"]}], userName=active_user(sb))
    assert (await send(client, "GET", MASTERS))["total"] == 199
    assert first["_id"] not in {r["_id"] for r in sb.records("master")}


async def test_a_user_without_delete_right_gets_200_success_false(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    response = await client.post("/_sandbox/config", json={"users_without_delete": [user.upper()]})
    assert orjson.loads(await response.read()) == {"users_without_delete": [user]}
    first = sb.records("master")[0]
    answer = await send(client, "DELETE", MASTERS, [{"refId": first["refId"]}], userName=user)
    assert answer == {
        "success": False,
        "message": "User doesn't have permission to delete the record",
    }
    assert sb.records("master")[0] == first and sb.ledger == []


async def test_deletes_need_an_active_user_and_keyed_rows(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    body = [{"refId": sb.records("master")[0]["refId"]}]
    answer = await send(client, "DELETE", MASTERS, body, 400)
    assert answer["error"]["detail"] == ["Missing userName."]
    for name in ("nobody@example.com", active_user(sb, active=False)):
        answer = await send(client, "DELETE", MASTERS, body, 400, userName=name)
        assert answer["error"]["detail"] == ["User not found or active"]
    answer = await send(client, "DELETE", MASTERS, [{"x": 1}], 400, userName=active_user(sb))
    assert answer["error"]["detail"] == ["row 1: refId or recordNumber is required"]
    assert sb.ledger == []


async def test_module_writes_need_an_active_user_name(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    row = [{"recordNumber": "INSP-900", "status": "Draft", "score": 1}]
    assert (await send(client, "POST", MODULES, row, 400))["error"]["detail"] == [
        "Missing userName."
    ]
    for name in ("nobody@example.com", active_user(sb, active=False)):
        answer = await send(client, "POST", MODULES, row, 400, userName=name)
        assert answer["error"]["detail"] == ["User not found or active"]
    user = active_user(sb)
    answer = await send(client, "POST", MODULES, row, 201, userName=user.upper())
    assert answer["insertedCount"] == 1
    [new] = [r for r in sb.records("module") if r["_id"] == answer["insertedIds"][0]]
    assert new["createdBy"] == new["updatedBy"] == user
    answer = await send(client, "POST", MODULES, [{"score": "high"}], 400, userName=user)
    assert answer["error"]["detail"] == [
        "row 1: recordNumber is required (unique field)",
        "row 1: score must be a number",
    ]


async def test_module_patch_and_delete(make_client):
    """PATCH takes one object and answers the upsert shape; DELETE by recordNumber, 404 if none."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    first = sb.records("module")[0]
    answer = await send(
        client, "PATCH", MODULES, {"refId": first["refId"], "remarks": "ok"}, userName=user
    )
    assert answer == {"insertedIds": [], "insertedCount": 0, "updatedCount": 1}
    answer = await send(
        client, "PATCH", MODULES, [{"recordNumber": "INSP-2", "remarks": "ok"}], userName=user
    )
    assert answer["updatedCount"] == 1
    assert [r["customFields"]["remarks"] for r in sb.records("module")[:2]] == ["ok", "ok"]
    answer = await send(client, "DELETE", MODULES, [{"recordNumber": "INSP-1"}], userName=user)
    assert answer["success"] is True
    assert sb.records("module")[0]["isDeleted"] is True
    answer = await send(client, "DELETE", MODULES, [{"recordNumber": "INSP-1"}], 404, userName=user)
    assert answer["error"]["detail"] == ["No matching record."]
    assert [w.operation for w in sb.ledger] == ["module.patch", "module.patch", "module.delete"]


async def test_reads_see_writes_at_once(make_client, clock):
    client = await make_client(clock=clock)
    serials = "serial_number:NUMBER:in:3|4000"
    before = (await send(client, "GET", MASTERS, filter=serials))["rows"]
    clock.advance(60)
    rows = [{"serial_number": 3, "city": "Osaka"}, {"serial_number": 4000, "city": "Osaka"}]
    await send(client, "POST", MASTERS, rows, 201)
    after = (await send(client, "GET", MASTERS, filter=serials, sort="serial_number"))["rows"]
    assert [r["customFields"]["city"] for r in after] == ["Osaka", "Osaka"]
    assert after[0]["updatedAt"] > before[0]["updatedAt"]
    newest = await send(client, "GET", MASTERS, sort="-updatedAt", pageSize=2)
    assert {r["customFields"]["serial_number"] for r in newest["rows"]} == {3, 4000}
    assert newest["total"] == 201


async def test_a_full_chunk_of_new_rows_is_listed_once_in_every_order(make_client):
    """1,000 inserts at once (past the collection's key-by-key patch limit) keep orders exact."""
    client = await make_client()
    rows = [{"serial_number": 10_000 + i, "city": "Lyon"} for i in range(1000)]
    assert (await send(client, "POST", MASTERS, rows, 201))["insertedCount"] == 1000
    await send(client, "POST", MASTERS, [{**row, "city": "Pune"} for row in rows], 201)
    for sort in ("", "_id", "-serial_number"):
        page = await send(client, "GET", MASTERS, sort=sort, pageSize=1000, page=2)
        assert page["total"] == 1200 and len(page["rows"]) == 200
        first = await send(client, "GET", MASTERS, sort=sort, pageSize=1000)
        ids = [r["_id"] for r in first["rows"] + page["rows"]]
        assert len(set(ids)) == 1200


async def test_hiding_unowned_module_records(make_client):
    """With hide_unowned_modules, a token sees the module records its user created or is
    responsible for (inspector), or whose workflow is active (Submitted)."""
    client = await make_client(token_users={"sandbox-token": "robot@example.com"})
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    await send(client, "POST", MODULES, [{"recordNumber": "INSP-900"}], 201, userName=user)
    await send(client, "POST", MASTERS, [{"serial_number": 1}], 201)  # masters: unaffected
    sb.config.hide_unowned_modules = True
    assert (await send(client, "GET", MODULES))["total"] == sum(
        r["customFields"].get("status") == "Submitted" for r in sb.records("module")
    )
    sb.config.token_users["sandbox-token"] = user
    seen = (await send(client, "GET", MODULES, pageSize=1000))["rows"]
    assert "INSP-900" in {r["customFields"]["recordNumber"] for r in seen}
    assert all(
        r["createdBy"] == user
        or r["customFields"].get("inspector") == user
        or r["customFields"].get("status") == "Submitted"
        for r in seen
    )
    assert (await send(client, "GET", MASTERS))["total"] == 200


async def test_reject_keys_fails_the_rows_naming_a_listed_key_until_cleared(make_client):
    """Upsert, PATCH and DELETE rows naming a listed key (unique value, refId, recordNumber)
    fail validation and nothing is applied; once the knob is cleared the same rows land."""
    client = await make_client()
    sb = client.app[EXTO_KEY]
    first, second = sb.records("master")[:2]
    serial = first["customFields"]["serial_number"]
    response = await client.post(
        "/_sandbox/config", json={"reject_keys": [str(serial), second["refId"]]}
    )
    assert orjson.loads(await response.read()) == {"reject_keys": [str(serial), second["refId"]]}
    upsert = [{"serial_number": 999_001, "city": "Oslo"}, {"serial_number": serial, "city": "X"}]
    answer = await send(client, "POST", MASTERS, upsert, 400)
    assert answer["error"] == {
        "summary": "MODULE_RECORD_VALIDATION_FAILED",
        "detail": [f"row 2: {serial} is refused (reject_keys)"],
    }
    patch = [{"refId": second["refId"], "city": "Y"}]
    answer = await send(client, "PATCH", MASTERS, patch, 400)
    assert answer["error"]["detail"] == [f"row 1: {second['refId']} is refused (reject_keys)"]
    user = active_user(sb)
    gone = [{"refId": first["refId"]}, {"refId": second["refId"]}]
    answer = await send(client, "DELETE", MASTERS, gone, 400, userName=user)
    assert answer["error"]["detail"] == [f"row 2: {second['refId']} is refused (reject_keys)"]
    assert sb.ledger == [] and sb.records("master")[:2] == [first, second]
    sb.config.reject_keys = ()
    await send(client, "PATCH", MASTERS, patch)
    assert by_serial(sb, second["customFields"]["serial_number"])["customFields"]["city"] == "Y"
