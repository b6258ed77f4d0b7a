"""The Exto sandbox's paging lies (docs/sandbox.md "Paging lies") and restamped records."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"


async def page_of(client, number: int, size: int = 30) -> dict:
    response = await client.get(
        MASTERS, params={"page": str(number), "pageSize": str(size), "sort": "_id"}, headers=AUTH
    )
    assert response.status == 200
    return orjson.loads(await response.read())


def ids(body: dict) -> list[str]:
    return [r["_id"] for r in body["rows"]]


async def test_short_and_empty_pages_keep_reporting_the_true_totals(make_client):
    client = await make_client(short_pages=[2], empty_pages=[3])
    truth = await page_of(await make_client(), 2)
    short, empty = await page_of(client, 2), await page_of(client, 3)
    assert ids(short) == ids(truth)[:-1] and empty["rows"] == []
    assert (
        (short["total"], short["totalPages"]) == (empty["total"], empty["totalPages"]) == (200, 7)
    )


async def test_a_repeated_page_holds_the_page_before_it(make_client):
    client = await make_client(repeat_pages=[4])
    assert ids(await page_of(client, 4)) == ids(await page_of(client, 3))
    assert (await page_of(client, 4))["page"] == 4


async def test_a_vendor_ignoring_the_page_number_answers_page_one(make_client):
    client = await make_client(ignore_page=True)
    first = await page_of(client, 1)
    assert ids(await page_of(client, 5)) == ids(first) and (await page_of(client, 5))["page"] == 1


async def test_total_deltas_and_wobble_change_only_the_counts(make_client):
    client = await make_client(total_delta=-50, total_pages_delta=2, totals_wobble=0)
    body = await page_of(client, 1)
    assert (body["total"], body["totalPages"], len(body["rows"])) == (150, 7, 30)
    wobbly = await make_client(totals_wobble=5, fault_seed=3)
    totals = {(await page_of(wobbly, 1))["total"] for _ in range(20)}
    assert len(totals) > 1 and all(195 <= t <= 205 for t in totals)


async def test_lies_are_runtime_knobs_checked_on_the_control_route(make_client):
    client = await make_client()
    ok = await client.post("/_sandbox/config", json={"short_pages": [3, 1, 3], "ignore_page": True})
    assert ok.status == 200
    config = client.app[EXTO_KEY].config
    assert config.short_pages == (1, 3) and config.ignore_page
    for bad in ({"short_pages": [0]}, {"empty_pages": "2"}, {"total_delta": 1.5}):
        response = await client.post("/_sandbox/config", json=bad)
        assert response.status == 400, bad


def test_page_numbers_must_be_whole_and_positive() -> None:
    with pytest.raises(ValueError, match="page numbers"):
        ExtoConfig(master_records=10, repeat_pages=(True,))


async def test_restamp_puts_updated_at_in_the_future_or_changes_the_past(make_client):
    client = await make_client()
    sb = client.app[EXTO_KEY]
    future = int(datetime(2999, 1, 1, tzinfo=UTC).timestamp() * 1000)
    [stamped] = sb.data.restamp(1, future)
    [late] = sb.data.restamp(1, 0, change=True)
    records = {r["_id"]: r for r in sb.records("master", "LOCATION")}
    assert records[stamped]["updatedAt"] == "2999-01-01T00:00:00.000Z"
    assert records[late]["updatedAt"] == "1970-01-01T00:00:00.000Z"
    assert records[late]["customFields"]["notes"] == "late write 2"
