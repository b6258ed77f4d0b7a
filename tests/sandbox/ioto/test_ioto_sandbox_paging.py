"""Ioto sandbox: DynamoDB-style paging — limits, `next` cursors, short and empty pages, churn."""

from __future__ import annotations

import orjson
import pytest

ACCOUNT = "01SANDBOXACCOUNT000000000"
DEVICES = "/tok/device/find"
GENERIC = "/tok/generic/find"


def items(pages):
    return [item for page in pages for item in page["data"]]


@pytest.mark.parametrize(("model", "via"), [("Store", "params"), ("Log", "query")])
async def test_paging_to_the_end_next_vanishes_only_on_the_last_page(ioto, model, via):
    """Every page but the last carries `next`; the pages concatenate to sb.records(model)."""
    sandbox = await ioto()
    pages = await sandbox.scan(GENERIC, {"_type": model}, 40, via=via)
    assert [len(p["data"]) for p in pages] == [40, 40, 40, 30]
    assert all("next" in p for p in pages[:-1]) and "next" not in pages[-1]
    assert all(p["paged"] is True for p in pages)
    assert items(pages) == sandbox.sb.records(model)


async def test_device_find_pages_the_account_devices(ioto):
    """device/find pages all devices of the account in id order; `prev` names the first item
    of pages after the first."""
    sandbox = await ioto()
    pages = await sandbox.scan(DEVICES, {"accountId": ACCOUNT}, 25)
    devices = items(pages)
    assert devices == sandbox.sb.records("Device")
    assert [d["id"] for d in devices] == sorted(d["id"] for d in devices)
    assert "prev" not in pages[0]
    assert pages[1]["prev"] == {"pk": f"d#{ACCOUNT}", "sk": f"d#{pages[1]['data'][0]['id']}"}
    assert pages[0]["next"] == {"pk": f"d#{ACCOUNT}", "sk": f"d#{pages[0]['data'][-1]['id']}"}
    other = await sandbox.find(DEVICES, {"accountId": "01OTHERACCOUNT"})
    assert other == {"data": [], "paged": True}


async def test_exactly_full_last_page_omits_next(ioto):
    """A page that reaches the end of the data omits `next`, even when it is full."""
    sandbox = await ioto()
    pages = await sandbox.scan(GENERIC, {"_type": "Store"}, 50)
    assert [len(p["data"]) for p in pages] == [50, 50, 50]
    assert "next" not in pages[-1]


async def test_default_and_maximum_limit(ioto):
    """No limit → default_limit (100); limit above max_limit, zero, negative or not an
    integer → 400 text; the cap is a knob."""
    sandbox = await ioto()
    assert len((await sandbox.find(GENERIC, {"_type": "Log"}))["data"]) == 100
    for bad in ("1001", "0", "-1", "ten", "1.5"):
        reply = await sandbox.call(GENERIC, {"_type": "Log"}, params={"limit": bad})
        assert (reply.status, reply.content_type) == (400, "text/plain"), bad
    for bad in (0, 1001, True, 2.5, [3]):
        reply = await sandbox.call(GENERIC, {"_type": "Log", "_params": {"limit": bad}})
        assert reply.status == 400, bad
    assert len((await sandbox.find(GENERIC, {"_type": "Log"}, limit="1000"))["data"]) == 150
    sandbox.sb.config.max_limit = 20
    assert (await sandbox.call(GENERIC, {"_type": "Log"}, params={"limit": "21"})).status == 400
    assert len((await sandbox.find(GENERIC, {"_type": "Log"}))["data"]) == 20


async def test_query_string_wins_over_params(ioto):
    """Options may come in the query string or in `_params`; the query string wins per option."""
    sandbox = await ioto()
    both = await sandbox.find(GENERIC, {"_type": "Log", "_params": {"limit": 30}}, limit="10")
    assert len(both["data"]) == 10
    cursor = both["next"]
    via_params = await sandbox.find(GENERIC, {"_type": "Log", "_params": {"next": cursor}})
    via_query = await sandbox.find(GENERIC, {"_type": "Log"}, next=orjson.dumps(cursor).decode())
    as_text = await sandbox.find(
        GENERIC, {"_type": "Log", "_params": {"next": orjson.dumps(cursor).decode()}}
    )
    assert via_params == via_query == as_text
    assert via_params["data"][0] == sandbox.sb.records("Log")[10]


async def test_tampered_or_foreign_next_is_400_text(ioto):
    """A `next` that is not a {pk, sk} this model ever held (or belongs to another partition,
    model or account) → 400 text."""
    sandbox = await ioto()
    first = await sandbox.find(GENERIC, {"_type": "Store"}, limit="5")
    pk, sk = first["next"]["pk"], first["next"]["sk"]
    device = first["data"][0]["deviceId"]
    log_next = (await sandbox.find(GENERIC, {"_type": "Log"}, limit="5"))["next"]
    for cursor in (
        {"pk": pk, "sk": sk + "x"},
        {"pk": pk, "sk": "s#nope"},
        {"pk": pk.replace(ACCOUNT, "01OTHER"), "sk": sk},
        {"pk": pk},
        {"pk": pk, "sk": sk, "extra": 1},
        {"pk": 1, "sk": sk},
        log_next,
        [pk, sk],
        "garbage",
    ):
        body = {"_type": "Store", "_params": {"next": cursor}}
        reply = await sandbox.call(GENERIC, body)
        assert (reply.status, reply.content_type) == (400, "text/plain"), cursor
    reply = await sandbox.call(GENERIC, {"_type": "Store"}, params={"next": "{not json"})
    assert reply.status == 400
    # a cursor of another device's partition cannot continue a one-device query
    other = next(i for i in sandbox.sb.records("Store") if i["deviceId"] != device)
    cursor = {"pk": f"s#{ACCOUNT}#{other['deviceId']}", "sk": f"s#{other['key']}"}
    body = {"_type": "Store", "deviceId": device, "_params": {"next": cursor}}
    assert (await sandbox.call(GENERIC, body)).status == 400
    for empty in (None, "", "null"):  # no cursor: the first page
        body = {"_type": "Store", "_params": {"next": empty, "limit": 5}}
        assert (await sandbox.find(GENERIC, body))["data"] == first["data"]


async def test_cursor_of_a_deleted_item_still_works(ioto):
    """A cursor naming an item deleted since is still a valid start key."""
    sandbox = await ioto()
    first = await sandbox.find(GENERIC, {"_type": "Log"}, limit="10")
    doomed = first["data"][-1]["id"]
    table = sandbox.sb.data.tables["Log"]
    table.delete(table.by_natural[doomed])
    rest = await sandbox.find(GENERIC, {"_type": "Log", "_params": {"next": first["next"]}})
    assert rest["data"][0] == sandbox.sb.records("Log")[9]


async def test_limit_counts_evaluated_items_before_filters(ioto):
    """Attribute filters apply after `limit` items are read: pages come back short or empty
    but carry `next`; all pages together hold exactly the matching items."""
    sandbox = await ioto()
    body = {"_type": "Store", "type": "boolean"}
    pages = await sandbox.scan(GENERIC, body, 10)
    assert len(pages) == 15
    assert all(len(p["data"]) < 10 for p in pages)
    assert any(p["data"] == [] and "next" in p for p in pages)
    expected = [i for i in sandbox.sb.records("Store") if i["type"] == "boolean"]
    assert items(pages) == expected and expected


async def test_device_id_reads_one_partition(ioto):
    """deviceId is part of the Store/Log partition key: only that device's items are read, in
    key order, and `limit` counts none of the others."""
    sandbox = await ioto()
    logs = sandbox.sb.records("Log")
    device = max({i["deviceId"] for i in logs}, key=lambda d: sum(i["deviceId"] == d for i in logs))
    mine = [i for i in logs if i["deviceId"] == device]
    assert len(mine) >= 3
    pages = await sandbox.scan(GENERIC, {"_type": "Log", "deviceId": device}, 2)
    assert items(pages) == mine
    assert [len(p["data"]) for p in pages[:-1]] == [2] * (len(pages) - 1)
    assert [i["id"] for i in mine] == sorted(i["id"] for i in mine)


async def test_key_and_attribute_equality_filters(ioto):
    """device/find with id reads one device; productId filters; generic/find filters on any
    attribute with JSON equality (true is not 1)."""
    sandbox = await ioto()
    devices = sandbox.sb.records("Device")
    one = await sandbox.find(DEVICES, {"accountId": ACCOUNT, "id": devices[3]["id"]})
    assert one == {"data": [devices[3]], "paged": True}
    product = devices[0]["productId"]
    found = items(await sandbox.scan(DEVICES, {"accountId": ACCOUNT, "productId": product}, 1000))
    assert found == [d for d in devices if d["productId"] == product]
    tests = await sandbox.find(GENERIC, {"_type": "Device", "test": False}, limit="1000")
    assert tests["data"] == [d for d in devices if d["test"] is False]
    assert (await sandbox.find(GENERIC, {"_type": "Device", "test": 0}))["data"] == []
    store = sandbox.sb.records("Store")[5]
    exact = {"_type": "Store", "deviceId": store["deviceId"], "key": store["key"]}
    assert (await sandbox.find(GENERIC, exact))["data"] == [store]


async def test_filtered_ratio_gives_short_pages_with_next(ioto):
    """filtered_ratio drops a fixed share of evaluated items: short pages still carry `next`,
    and the scan returns exactly sb.records() (which leaves the dropped items out)."""
    sandbox = await ioto(filtered_ratio=0.5)
    pages = await sandbox.scan(GENERIC, {"_type": "Log"}, 20)
    assert len(pages) == 8
    assert all(len(p["data"]) < 20 and "next" in p for p in pages[:-1])
    got = items(pages)
    assert got == sandbox.sb.records("Log")
    assert 40 < len(got) < 110
    assert items(await sandbox.scan(GENERIC, {"_type": "Log"}, 20)) == got
    sandbox.sb.config.filtered_ratio = 0.0
    assert len(sandbox.sb.records("Log")) == 150


async def test_empty_page_every_returns_empty_pages_mid_scan(ioto):
    """Every Nth page served mid-scan is `data: []` with a `next` that moves on (never the
    cursor sent); nothing is skipped or repeated."""
    sandbox = await ioto(empty_page_every=3)
    pages = await sandbox.scan(GENERIC, {"_type": "Store"}, 20)
    empties = [p for p in pages if p["data"] == []]
    assert len(empties) >= 2
    assert all("next" in p for p in empties)
    assert items(pages) == sandbox.sb.records("Store")
    cursors = [orjson.dumps(p["next"]) for p in pages[:-1]]
    assert len(set(cursors)) == len(cursors)
    sandbox.sb.config.empty_page_every = 1  # alternates: an empty page is never followed by one
    assert items(await sandbox.scan(GENERIC, {"_type": "Store"}, 20)) == sandbox.sb.records("Store")


async def test_page_bytes_cap_ends_pages_early(ioto):
    """page_bytes_cap ends a page once its items' JSON would pass the cap (at least one item)."""
    sandbox = await ioto(page_bytes_cap=2_000)
    pages = await sandbox.scan(GENERIC, {"_type": "Device"}, 1000)
    sizes = [len(p["data"]) for p in pages]
    assert max(sizes) < 10 and len(pages) > 6
    for page in pages:
        assert sum(len(orjson.dumps(d)) for d in page["data"]) <= 2_000
    assert items(pages) == sandbox.sb.records("Device")
    sandbox.sb.config.page_bytes_cap = 1
    assert len((await sandbox.find(GENERIC, {"_type": "Device"}))["data"]) == 1


async def test_churn_during_a_scan_does_not_shift_the_cursor(ioto):
    """Inserts and deletes between pages: no item is served twice, every item that lived through
    the scan is served, inserts ahead of the cursor are seen and those behind it are not."""
    sandbox = await ioto(churn_inserts_per_page=3, churn_deletes_per_page=2)
    table = sandbox.sb.data.tables["Device"]
    before = {d["id"] for d in sandbox.sb.records("Device")}
    pages = await sandbox.scan(DEVICES, {"accountId": ACCOUNT}, 10)
    seen = [d["id"] for d in items(pages)]
    after = {d["id"] for d in sandbox.sb.records("Device")}
    ever = {key[1].removeprefix("d#") for key in table.known}
    assert len(seen) == len(set(seen)) and seen == sorted(seen)
    assert (before & after) <= set(seen) <= ever
    inserted = ever - before
    assert inserted & set(seen) and inserted - set(seen)
    assert len(after) == 60 + (3 - 2) * len(pages)
