"""Custom record writes: upsert by primary key, full update, delete, and profile-delete cascades."""

from __future__ import annotations

import pytest

from .helpers import (
    ORDER_KEY,
    RECORDS,
    V4_PROFILES,
    V4_RECORDS,
    bearer,
    get_json,
    order_body,
    pairs,
    sandbox,
    send,
    values,
)


@pytest.mark.parametrize("prefix", ["", "/custom-data"])
async def test_upsert_creates_then_merges_by_primary_key(make_actito, clock, prefix):
    """POST creates (201, businessKey = orderId), then merges into the same record (200)."""
    client = await make_actito(clock=clock)
    headers = await bearer(client)
    path = prefix + V4_RECORDS
    clock.advance(3)
    response = await client.post(path, headers=headers, json=order_body())
    assert (response.status, await response.json()) == (201, {"businessKey": ORDER_KEY})
    assert response.headers["Location"] == f"{path}/{ORDER_KEY}"
    status, record = await get_json(client, f"{path}/{ORDER_KEY}", headers)
    assert status == 200
    assert values(record) == {
        "orderId": ORDER_KEY,
        "customerId": "C-00001",
        "amount": 12.5,
        "currency": "EUR",
        "status": "NEW",
        "creationMoment": "2025-07-01 00:00:03",
        "updateMoment": "2025-07-01 00:00:03",
    }
    clock.advance(10)
    status, body = await send(
        client, "POST", path, headers, {"properties": pairs(orderId=ORDER_KEY, status="PAID")}
    )
    assert (status, body) == (200, {"businessKey": ORDER_KEY})
    merged = values((await get_json(client, f"{path}/{ORDER_KEY}", headers))[1])
    assert merged == values(record) | {"status": "PAID", "updateMoment": "2025-07-01 00:00:13"}
    assert len(sandbox(client).records("custom")) == 201


async def test_upsert_keeps_given_moments(make_actito):
    """creationMoment and updateMoment are ordinary properties: given values are kept."""
    client = await make_actito()
    headers = await bearer(client)
    moments = {"creationMoment": "2024-05-01 08:00:00", "updateMoment": "2024-05-02 09:00:00"}
    assert (await send(client, "POST", V4_RECORDS, headers, order_body(**moments)))[0] == 201
    record = sandbox(client).records("custom")[-1]
    assert values(record) | moments == values(record)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (order_body(orderId=None), "orderId"),
        ({"properties": pairs(status="NEW")}, "orderId"),
        (order_body(key="ORD-1"), "orderId"),
        (order_body(status="LOST"), "status"),
        (order_body(amount="12"), "amount"),
        (order_body(colour="red"), "colour"),
        ({"properties": pairs(orderId=ORDER_KEY, status="NEW")}, "customerId"),
        ({"properties": [], "businessKey": ORDER_KEY}, "businessKey"),
        ({"records": []}, "records"),
        ({}, "properties"),
    ],
)
async def test_invalid_records_are_400_naming_the_property(make_actito, body, named):
    """A missing or malformed primary key, a bad value, an unknown or missing property → 400."""
    client = await make_actito()
    headers = await bearer(client)
    status, error = await send(client, "POST", V4_RECORDS, headers, body)
    assert status == 400, error
    assert named in error["message"]
    assert len(sandbox(client).records("custom")) == 200


async def test_put_replaces_every_property(make_actito, clock):
    """PUT → 204; the record holds exactly the body, its creation time stays."""
    client = await make_actito(clock=clock)
    headers = await bearer(client)
    original = sandbox(client).records("custom")[4]
    key = original["businessKey"]
    clock.advance(120)
    body = order_body(key, customerId="C-00002", amount=99.0, status="SHIPPED")
    assert await send(client, "PUT", f"{V4_RECORDS}/{key}", headers, body) == (204, None)
    record = (await get_json(client, f"{V4_RECORDS}/{key}", headers))[1]
    assert values(record) == {
        "orderId": key,
        "customerId": "C-00002",
        "amount": 99.0,
        "currency": "EUR",
        "status": "SHIPPED",
        "creationMoment": values(original)["creationMoment"],
        "updateMoment": "2025-07-01 00:02:00",
    }


async def test_put_refusals(make_actito):
    """PUT on an unknown key → 404; another orderId or a missing property → 400."""
    client = await make_actito()
    headers = await bearer(client)
    key = sandbox(client).records("custom")[0]["businessKey"]
    assert (await send(client, "PUT", f"{V4_RECORDS}/{ORDER_KEY}", headers, order_body()))[0] == 404
    assert (await send(client, "PUT", f"{V4_RECORDS}/{key}", headers, order_body()))[0] == 400
    partial = {"properties": pairs(status="PAID")}
    status, error = await send(client, "PUT", f"{V4_RECORDS}/{key}", headers, partial)
    assert status == 400
    assert error["message"] == "Missing mandatory properties: customerId, amount, currency"
    assert sandbox(client).ledger == []


@pytest.mark.parametrize("prefix", ["", "/custom-data"])
async def test_delete_record(make_actito, prefix):
    """DELETE → 204 and the record leaves lookups and lists; again → 404."""
    client = await make_actito()
    headers = await bearer(client)
    key = sandbox(client).records("custom")[10]["businessKey"]
    path = f"{prefix}{V4_RECORDS}/{key}"
    assert await send(client, "DELETE", path, headers) == (204, None)
    assert (await get_json(client, path, headers))[0] == 404
    assert (await send(client, "DELETE", path, headers))[0] == 404
    _, page = await get_json(client, RECORDS, headers, limit="1000")
    assert key not in [r["businessKey"] for r in page["records"]]


@pytest.mark.parametrize("cascade", [False, True])
async def test_profile_delete_cascades_only_with_the_knob(make_actito, cascade):
    """With cascade_deletes the orders of the profile's customerId go too; one ledger entry."""
    client = await make_actito()
    headers = await bearer(client)
    response = await client.post("/_sandbox/config", json={"cascade_deletes": cascade})
    assert response.status == 200
    sb = sandbox(client)
    customer = values(sb.records("custom")[0])["customerId"]
    pid = int(customer.removeprefix("C-"))
    linked = [r for r in sb.records("custom") if values(r)["customerId"] == customer]
    assert (await send(client, "DELETE", f"{V4_PROFILES}/{pid}", headers))[0] == 204
    search = {"searchField": "customerId", "searchValue": customer}
    status, _ = await get_json(client, V4_RECORDS, headers, **search)
    assert status == (404 if cascade else 200)
    assert len(sb.records("custom")) == 200 - (len(linked) if cascade else 0)
    assert [(w.operation, w.key) for w in sb.ledger] == [("profile.delete", str(pid))]


async def test_generated_orders_skip_keys_written_through_the_api(make_actito):
    """A client key where the sandbox would number its next order does not collide."""
    client = await make_actito()
    headers = await bearer(client)
    assert (await send(client, "POST", V4_RECORDS, headers, order_body("ORD-0000000000000201")))[
        0
    ] == 201
    result = sandbox(client).generation(change_pct=0, delete_pct=0, insert_pct=1)
    orders = [key for key in result.inserted if isinstance(key, str)]
    assert orders == ["ORD-0000000000000202", "ORD-0000000000000203"]
