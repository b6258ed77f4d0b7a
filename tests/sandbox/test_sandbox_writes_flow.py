"""Sub-table rows (append, list, delete) and workflow actions on module records."""

from __future__ import annotations

from exto_support import MODULES, OBJECT_ID, send

from syncer.sandbox.exto import EXTO_KEY

TABLE = "/data/api/v1/sub-table/Signatures"
WORKFLOW = "/data/api/v1/workflow/INSPECTION"


def active_user(sb, active=True):
    return next(
        u["user"]["userName"] for u in sb.records("users") if u["user"]["status"] == int(active)
    )


async def test_sub_table_post_appends_so_a_repeat_duplicates_rows(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    parent = sb.records("module")[0]
    where = {"moduleName": "inspection", "recordId": parent["_id"]}
    rows = [{"signer": "a"}, {"signer": "b"}]
    first = await send(client, "POST", TABLE, rows, 201, **where)
    assert first["insertedCount"] == 2 and first["updatedCount"] == 0
    assert all(OBJECT_ID.fullmatch(i) for i in first["insertedIds"])
    # the seed's spelling: recordName, with X-PROJECT-ID
    seed = {"moduleName": "INSPECTION", "recordName": parent["_id"]}
    scoped = {"X-PROJECT-ID": parent["projectID"]}
    second = await send(client, "POST", TABLE, rows, 201, headers=scoped, **seed)
    assert set(second["insertedIds"]).isdisjoint(first["insertedIds"])
    page = await send(client, "GET", TABLE, **where, pageSize=3)
    assert (page["total"], page["page"], page["pageSize"], page["totalPages"]) == (4, 1, 3, 2)
    assert [r["customFields"]["signer"] for r in page["rows"]] == ["a", "b", "a"]
    assert [r["recordNumber"] for r in page["rows"]] == [
        "Signatures-1",
        "Signatures-2",
        "Signatures-3",
    ]
    assert page["rows"][0]["_id"] == first["insertedIds"][0]
    assert page["rows"][0]["parentID"] == parent["_id"]
    assert [(w.operation, w.inserted) for w in sb.ledger] == [("subtable.append", 2)] * 2
    empty = await send(client, "GET", "/data/api/v1/sub-table/Other", **where)
    assert (empty["rows"], empty["total"]) == ([], 0)


async def test_sub_table_needs_an_existing_parent_and_its_parameters(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    parent = sb.records("module")[0]
    rows = [{"signer": "a"}]
    answer = await send(client, "POST", TABLE, rows, 400, moduleName="INSPECTION")
    assert answer["error"]["detail"] == ["Missing moduleName, recordId, or tableId."]
    absent = {"moduleName": "INSPECTION", "recordId": "0" * 24}
    await send(client, "POST", TABLE, rows, 404, **absent)
    await send(client, "GET", TABLE, expect=404, **absent)
    await send(client, "POST", TABLE, rows, 404, moduleName="NOPE", recordId=parent["_id"])
    other = {"x-project-id": "Queen_p"}
    where = {"moduleName": "INSPECTION", "recordId": parent["_id"]}
    await send(client, "POST", TABLE, rows, 404, headers=other, **where)
    await send(client, "POST", TABLE, [{"n": i} for i in range(1001)], 400, **where)
    assert sb.ledger == []


async def test_sub_table_delete_by_record_number(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    where = {"moduleName": "INSPECTION", "recordId": sb.records("module")[0]["_id"]}
    await send(client, "POST", TABLE, [{"n": 1}, {"n": 2}, {"n": 3}], 201, **where)
    body = [{"recordNumber": "Signatures-2"}, {"recordNumber": "Signatures-9"}]
    assert (await send(client, "DELETE", TABLE, body, **where))["success"] is True
    page = await send(client, "GET", TABLE, **where)
    assert [r["customFields"]["n"] for r in page["rows"]] == [1, 3]
    assert sb.ledger[-1].keys == ("Signatures-2",) and sb.ledger[-1].deleted == 1
    answer = await send(client, "DELETE", TABLE, [{"n": 1}], 400, **where)
    assert answer["error"]["detail"] == [
        'Request body must be a non-empty array of objects with "recordNumber"'
    ]


async def test_workflow_action_sets_the_status(make_client, clock):
    client = await make_client(clock=clock)
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    ids = [r["_id"] for r in sb.records("module")[:3]]
    clock.advance(4)
    answer = await send(client, "POST", WORKFLOW, ids, 201, actionName="approve", userName=user)
    assert [a["recordId"] for a in answer] == ids
    assert all(OBJECT_ID.fullmatch(a["workflowId"]) for a in answer)
    assert len({a["workflowId"] for a in answer}) == 3
    records = sb.records("module")[:3]
    assert [r["customFields"]["status"] for r in records] == ["Approved"] * 3
    assert {(r["updatedBy"], r["updatedAt"]) for r in records} == {
        (user, "2025-07-01T00:00:04.000Z")
    }
    approved = await send(client, "GET", MODULES, status="Approved", pageSize=1000)
    assert set(ids) <= {r["_id"] for r in approved["rows"]}
    [entry] = sb.ledger
    assert (entry.operation, entry.keys, entry.updated) == ("workflow", tuple(ids), 3)


async def test_workflow_refusals_change_nothing(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    user = active_user(sb)
    before = sb.records("module")
    ids = [before[0]["_id"]]
    act = {"actionName": "Submit", "userName": user}
    answer = await send(client, "POST", WORKFLOW, ids * 101, 400, **act)
    assert answer["error"]["detail"] == ["Maximum 100 records allowed but received 101"]
    await send(client, "POST", WORKFLOW, ids, 400, actionName="Escalate", userName=user)
    await send(client, "POST", WORKFLOW, ids, 400, actionName="Submit")
    inactive = active_user(sb, active=False)
    await send(client, "POST", WORKFLOW, ids, 400, actionName="Submit", userName=inactive)
    await send(client, "POST", WORKFLOW, [], 400, **act)
    answer = await send(client, "POST", WORKFLOW, [*ids, "f" * 24], 400, **act)
    assert answer["error"]["detail"] == [f"Record {'f' * 24} not found"]
    scoped = {"x-project-id": before[0]["projectID"]}
    answer = await send(client, "POST", WORKFLOW, ids, 400, headers=scoped, **act)
    assert answer["error"]["detail"] == ["Missing spaceName."]
    await send(client, "POST", "/data/api/v1/workflow/NOPE", ids, 404, **act)
    assert sb.records("module") == before and sb.ledger == []
