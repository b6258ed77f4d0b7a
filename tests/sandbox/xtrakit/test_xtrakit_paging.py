"""The list envelope, the proposed page/per_page paging and the pagination-off knob."""

from __future__ import annotations

import orjson
from xtrakit_support import AUTH, CATEGORIES, CUSTOMERS, ITEMS, LISTS, SALES, get_body

from syncer.sandbox.xtrakit import XTRAKIT_KEY


async def test_lists_use_the_envelope_and_found_messages(make_xtrakit):
    """Each list answers {status, message, data: {<collection>, pagination}} as JSON."""
    client = await make_xtrakit()
    for path, collection in LISTS.items():
        response = await client.get(path, headers=AUTH)
        assert response.status == 200
        assert response.content_type == "application/json"
        body = orjson.loads(await response.read())
        assert list(body) == ["status", "message", "data"]
        assert body["status"] == 200
        assert list(body["data"]) == [collection, "pagination"]
        assert 0 < len(body["data"][collection]) <= 20
    messages = [(await get_body(client, path))["message"] for path in LISTS]
    assert messages == [
        "Customers found: 20",
        "Items found: 20",
        "Categories found: 12",
        "Sales found: 20",
    ]


async def test_default_page_is_20_in_id_order(make_xtrakit):
    """Without parameters: page 1 of 20 records, ids ascending, and the pagination object."""
    client = await make_xtrakit()
    data = (await get_body(client, CUSTOMERS))["data"]
    assert [r["id"] for r in data["customers"]] == list(range(1, 21))
    assert data["pagination"] == {"current_page": 1, "per_page": 20, "total": 120, "last_page": 6}


async def test_paging_to_the_end_returns_every_record_once(make_xtrakit):
    """Walking pages until last_page yields exactly the live records, as sb.records() has them."""
    client = await make_xtrakit()
    sb = client.app[XTRAKIT_KEY]
    for path, collection in LISTS.items():
        rows, page, last = [], 1, None
        while last is None or page <= last:
            data = (await get_body(client, path, page=str(page), per_page="25"))["data"]
            last = data["pagination"]["last_page"]
            assert data["pagination"]["current_page"] == page
            rows += data[collection]
            page += 1
        assert rows == sb.records(collection)
        assert len(data[collection]) == len(rows) - 25 * (last - 1)  # the last page is short


async def test_past_the_end_is_empty_with_true_pagination(make_xtrakit):
    """A page past the end: no records, "found: 0", and the real total and last_page."""
    client = await make_xtrakit()
    body = await get_body(client, SALES, page="99", per_page="40")
    assert body["message"] == "Sales found: 0"
    assert body["data"] == {
        "sales": [],
        "pagination": {"current_page": 99, "per_page": 40, "total": 150, "last_page": 4},
    }


async def test_per_page_bounds(make_xtrakit):
    """per_page 1..max_per_page; outside, or a bad page, is 400 with a message and data null."""
    client = await make_xtrakit(customers=1500)
    assert len((await get_body(client, CUSTOMERS, per_page="1000"))["data"]["customers"]) == 1000
    assert len((await get_body(client, CUSTOMERS, per_page="1"))["data"]["customers"]) == 1
    for params, message in [
        ({"per_page": "1001"}, "The per page field must not be greater than 1000."),
        ({"per_page": "0"}, "The per page field must be at least 1."),
        ({"per_page": "ten"}, "The per page field must be an integer."),
        ({"page": "0"}, "The page field must be at least 1."),
        ({"page": "-2"}, "The page field must be at least 1."),
        ({"page": "1.5"}, "The page field must be an integer."),
    ]:
        body = await get_body(client, ITEMS, expect=400, **params)
        assert body == {"status": 400, "message": message, "data": None}


async def test_max_and_default_per_page_knobs(make_xtrakit):
    """max_per_page and default_per_page change the bounds and the default live."""
    client = await make_xtrakit()
    client.app[XTRAKIT_KEY].config.apply({"max_per_page": 50, "default_per_page": 7})
    data = (await get_body(client, CUSTOMERS))["data"]
    assert len(data["customers"]) == 7
    assert data["pagination"]["per_page"] == 7
    body = await get_body(client, CUSTOMERS, expect=400, per_page="51")
    assert body["message"] == "The per page field must not be greater than 50."


async def test_pagination_off_truncates_at_20_without_a_pagination_object(make_xtrakit):
    """pagination=False: no data.pagination, page/per_page ignored, every list cut at 20."""
    client = await make_xtrakit(pagination=False)
    sb = client.app[XTRAKIT_KEY]
    for path, collection in LISTS.items():
        for params in ({}, {"page": "3", "per_page": "100"}, {"per_page": "5000"}):
            body = await get_body(client, path, **params)
            assert list(body["data"]) == [collection]
            assert body["data"][collection] == sb.records(collection)[:20]
            assert body["message"].endswith(f"found: {min(20, len(sb.records(collection)))}")
    assert len((await get_body(client, CATEGORIES))["data"]["categories"]) == 12
