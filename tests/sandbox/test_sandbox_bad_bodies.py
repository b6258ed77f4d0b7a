"""Bad bodies from the Exto sandbox (docs/sandbox.md "Bad bytes and HTML pages"), over real HTTP:
master records holding bytes that are not UTF-8 where the manifest says, and HTML pages
answered 200 in the fault mix or for the next N requests."""

from __future__ import annotations

import json

import orjson
import pytest

from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, bad_bytes, poison_corpus
from syncer.sandbox.exto.data import ExtoDataset
from syncer.sandbox.exto.faults import MAINTENANCE_PAGE
from syncer.sandbox.exto.seeding import POISON_POSITIONS

AUTH = {"Authorization": "Bearer sandbox-token"}
MASTERS = "/data/api/v1/master-record/LOCATION"
SMALL = {"master_records": 400, "module_records": 5, "users": 5, "projects": 2}


async def all_records(client) -> bytes:
    response = await client.get(MASTERS, params={"pageSize": "1000"}, headers=AUTH)
    assert response.status == 200
    return await response.read()


# --- bytes that are not UTF-8 -----------------------------------------------------------------


async def test_bad_records_are_served_with_raw_bytes_where_the_manifest_says(make_client):
    client = await make_client(**SMALL, bad_bytes=12)
    sb = client.app[EXTO_KEY]
    manifest = sb.data.bad_bytes
    assert [e.kind for e in manifest] == list(bad_bytes.KINDS) * 4
    assert [e.position for e in manifest] == sorted(e.position for e in manifest)
    body = await all_records(client)
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    # read as a careful client would, each bad byte b as U+DC00 + b
    served = json.loads(body.decode("utf-8", "surrogateescape"))["rows"]
    records = sb.records("master")
    assert served == records and len(served) == 400
    for entry in manifest:
        record = served[entry.position]
        bad = entry.served.decode("utf-8", "surrogateescape")
        assert entry.served in body and record["_id"] == entry.id
        if entry.kind == "value":
            assert record["customFields"]["name"].endswith(" " + bad)
        elif entry.kind == "field_name":
            assert record["customFields"][f"site{bad}name"] == "Depot"
        else:
            assert bad in record["_id"] and record["id"] == record["_id"]
    good = [r for i, r in enumerate(served) if i not in {e.position for e in manifest}]
    assert orjson.loads(orjson.dumps(good)) == good  # every other record is plain UTF-8 JSON


def test_the_same_seed_builds_the_same_bad_records_and_another_seed_others():
    def manifest(seed: int) -> list[bad_bytes.BadBytesEntry]:
        return ExtoDataset.build(ExtoConfig(**SMALL, seed=seed, bad_bytes=6)).bad_bytes

    assert manifest(3) == manifest(3)
    assert [e.position for e in manifest(3)] != [e.position for e in manifest(4)]
    assert {s for seed in range(1, 6) for s in (e.served for e in manifest(seed))} == set(
        bad_bytes.SEQUENCES
    )


def test_bad_records_never_take_the_other_poison_knobs_places():
    """With `poison` and `poison_corpus` on too, every knob's records are where it says."""
    records = poison_corpus.MIN_MASTER_RECORDS
    config = ExtoConfig(
        **{**SMALL, "master_records": records}, poison=True, poison_corpus=True, bad_bytes=1_000
    )
    data = ExtoDataset.build(config)
    taken = set(POISON_POSITIONS) | {e.position for e in data.poison_corpus}
    positions = {e.position for e in data.bad_bytes}
    assert len(positions) == 1_000
    assert not positions & (taken | {p + 1 for p in taken})
    served = data.collections[("master", "LOCATION")].records()
    assert len(served) == records + 2  # the two duplicates' copies
    for entry in data.bad_bytes:
        assert served[entry.position]["_id"] == entry.id
    for entry in data.poison_corpus:
        if entry.id is not None:
            assert served[entry.position].get("_id") == entry.id


def test_bad_records_are_left_alone_by_generations():
    sb_config = ExtoConfig(**SMALL, bad_bytes=40)
    data = ExtoDataset.build(sb_config)
    before = {e.id for e in data.bad_bytes}
    for _ in range(5):
        result = data.generation(change_pct=20, delete_pct=5, insert_pct=5)
        assert not before & {*result.changed, *result.deleted}
    live = {r["_id"] for r in data.collections[("master", "LOCATION")].records()}
    assert before <= live


@pytest.mark.parametrize("value", [-1, True, 1.5, 201])
def test_a_bad_count_is_refused(value):
    with pytest.raises(ValueError, match="bad_bytes"):
        ExtoConfig(**SMALL, bad_bytes=value)


def test_without_the_knob_nothing_changes():
    plain = ExtoDataset.build(ExtoConfig(**SMALL))
    assert plain.bad_bytes == []
    raws = [plain.collections[("master", "LOCATION")].raw(s) for s in range(400)]
    assert all(orjson.loads(raw) for raw in raws)


# --- HTML pages ------------------------------------------------------------------------------


async def test_the_html_fault_answers_200_with_a_maintenance_page(make_client):
    client = await make_client(**SMALL, fault_rate=1.0, fault_kinds=["html"])
    sb = client.app[EXTO_KEY]
    response = await client.get(MASTERS, headers=AUTH)
    assert response.status == 200 and response.content_type == "text/html"
    assert await response.read() == MAINTENANCE_PAGE
    assert b"<title>Exto is down for maintenance</title>" in MAINTENANCE_PAGE
    assert (sb.request_log[-1].status, sb.request_log[-1].fault) == (200, "html")
    stats = orjson.loads(await (await client.get("/_sandbox/stats")).read())
    assert stats["faults"] == {"html": 1}


async def test_html_next_answers_the_next_n_data_requests_then_stops(make_client):
    client = await make_client(**SMALL)
    sb = client.app[EXTO_KEY]
    answer = await client.post("/_sandbox/config", json={"html_next": 2})
    assert answer.status == 200 and orjson.loads(await answer.read()) == {"html_next": 2}
    unauthorised = await client.get(MASTERS)  # a 401 is decided first: it counts nothing down
    assert unauthorised.status == 401 and sb.config.html_next == 2
    kinds = []
    for _ in range(3):
        response = await client.get(MASTERS, headers=AUTH)
        kinds.append((response.status, response.content_type))
        await response.read()
    assert kinds == [(200, "text/html"), (200, "text/html"), (200, "application/json")]
    assert [e.fault for e in sb.request_log[1:]] == ["html", "html", None]
    assert sb.config.html_next == 0


async def test_an_html_answer_to_a_write_applies_nothing(make_client):
    client = await make_client(**SMALL, html_next=1)
    sb = client.app[EXTO_KEY]
    row = [{"serial_number": 9_999, "name": "New Depot"}]
    response = await client.post(MASTERS, json=row, headers=AUTH)
    assert response.status == 200 and response.content_type == "text/html"
    assert sb.ledger == [] and len(sb.records("master")) == 400


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
async def test_a_bad_html_next_is_refused(make_client, value):
    client = await make_client(**SMALL)
    response = await client.post("/_sandbox/config", json={"html_next": value})
    assert response.status == 400
    assert client.app[EXTO_KEY].config.html_next == 0


async def test_html_next_is_not_counted_down_by_429s(make_client, clock):
    """The limiter decides first: a refused request gets its 429, and the outage still lasts
    for N requests the vendor accepted."""
    client = await make_client(**SMALL, rate_limit=1, html_next=2, clock=clock)
    sb = client.app[EXTO_KEY]
    seen = []
    for step in range(4):
        response = await client.get(MASTERS, headers=AUTH)
        seen.append((response.status, response.content_type))
        await response.read()
        if step != 0:
            clock.advance(1.5)
    assert seen == [
        (200, "text/html"),
        (429, "application/json"),
        (200, "text/html"),
        (200, "application/json"),
    ]
    assert sb.config.html_next == 0
