"""Deterministic data, generations and churn under a running scan."""

from __future__ import annotations

from typing import Any

from syncer.sandbox.actito import (
    ACTITO_KEY,
    ActitoConfig,
    ActitoSandbox,
    GenerationResult,
    create_app,
)

from .helpers import PROFILES, RECORDS, bearer, get_json, sandbox, scan, values


def fresh(**knobs: Any) -> ActitoSandbox:
    """A sandbox without a server, for what needs no HTTP."""
    config = ActitoConfig(**({"profiles": 300, "custom_records": 200} | knobs))
    return create_app(config)[ACTITO_KEY]


async def test_same_seed_serves_identical_pages_and_cursors(make_actito):
    """Two sandboxes with one seed serve the same bytes, and accept each other's cursors."""
    one, two = await make_actito(), await make_actito()
    h1, h2 = await bearer(one), await bearer(two)
    for path in (PROFILES, RECORDS):
        first = await one.get(path, headers=h1, params={"limit": "50"})
        second = await two.get(path, headers=h2, params={"limit": "50"})
        assert await first.read() == await second.read()
    _, page = await get_json(one, PROFILES, h1, limit="50")
    _, continued = await get_json(two, PROFILES, h2, limit="50", searchAfter=page["searchAfter"])
    assert continued["profiles"] == sandbox(two).records("profiles")[50:100]


def test_another_seed_gives_other_data():
    """The seed changes the data; the shape stays."""
    a, b = fresh(seed=1), fresh(seed=2)
    assert a.records("profiles") != b.records("profiles")
    assert len(b.records("profiles")) == 300
    assert len(b.records("custom")) == 200


def test_profiles_have_the_documented_attributes():
    """Profiles carry the attribute list, the Newsletter subscription and no segmentations."""
    profile = fresh().records("profiles")[0]
    assert set(profile) == {"profileId", "attributes", "subscriptions", "segmentations"}
    attributes = values(profile)
    assert attributes["customerId"] == f"C-{profile['profileId']:05d}"
    assert attributes["emailAddress"].endswith("@example.com")
    assert len(attributes["updateMoment"]) == len("2025-01-10 10:00:00")
    assert attributes["creationMoment"] <= attributes["updateMoment"]
    assert isinstance(attributes["loyaltyPoints"], int)
    assert profile["subscriptions"][0]["name"] == "Newsletter"
    assert profile["segmentations"] == []


def test_generation_changes_deletes_and_inserts_the_asked_shares():
    """Counts are the percentages of each table, rounded half up; profiles first, then orders."""
    sb = fresh()
    before = {p["profileId"]: p for p in sb.records("profiles")}
    orders_before = {r["businessKey"] for r in sb.records("custom")}
    result = sb.generation(change_pct=10, delete_pct=5, insert_pct=5)
    assert isinstance(result, GenerationResult)
    assert result.generation == 1
    changed_ids = [k for k in result.changed if isinstance(k, int)]
    changed_keys = [k for k in result.changed if isinstance(k, str)]
    assert (len(changed_ids), len(changed_keys)) == (30, 20)
    assert [isinstance(k, int) for k in result.deleted].count(True) == 15
    assert len(result.deleted) == 15 + 10
    assert len(result.inserted) == 15 + 10
    after = {p["profileId"]: p for p in sb.records("profiles")}
    assert len(after) == 300
    assert not set(result.deleted) & set(after)
    new_ids = [k for k in result.inserted if isinstance(k, int)]
    assert min(new_ids) > max(before)
    for pid in changed_ids:
        assert after[pid] != before[pid]
        assert values(after[pid])["updateMoment"].startswith("2025-07-02 ")
    for pid in new_ids:
        assert values(after[pid])["creationMoment"].startswith("2025-07-02 ")
    orders_after = {r["businessKey"]: r for r in sb.records("custom")}
    new_keys = [k for k in result.inserted if isinstance(k, str)]
    assert min(new_keys) > max(orders_before)
    assert set(new_keys) <= set(orders_after)
    second = sb.generation()
    assert second.generation == 2
    assert (len(second.changed), len(second.deleted), len(second.inserted)) == (3 + 2, 0, 0)
    pid = next(k for k in second.changed if isinstance(k, int))
    assert values(sb.records("profiles")[0])["updateMoment"] < "2025-07-03"
    changed = next(p for p in sb.records("profiles") if p["profileId"] == pid)
    assert values(changed)["updateMoment"].startswith("2025-07-03 ")


def test_generations_are_deterministic():
    """Same seed, same generation number: same keys and same resulting data."""
    a, b = fresh(), fresh()
    assert a.generation(5, 2, 2) == b.generation(5, 2, 2)
    assert a.records("profiles") == b.records("profiles")
    assert a.records("custom") == b.records("custom")


def test_cascade_deletes_follow_the_foreign_key():
    """With cascade_deletes, deleting a profile deletes the orders of its customerId."""
    sb = fresh(cascade_deletes=True)
    customers = {values(p)["customerId"]: p["profileId"] for p in sb.records("profiles")}
    result = sb.generation(change_pct=0, delete_pct=20, insert_pct=0)
    gone = {k for k in result.deleted if isinstance(k, int)}
    assert len(gone) == 60
    cascaded = [k for k in result.deleted if isinstance(k, str)]
    assert len(cascaded) > 20  # 20 % of the orders, plus those of the deleted profiles
    for record in sb.records("custom"):
        assert customers.get(values(record)["customerId"]) not in gone


async def test_churn_between_pages_shifts_a_keyset_scan_like_a_live_table(make_actito):
    """Rows deleted ahead of the cursor are never served; rows inserted after it are."""
    client = await make_actito(churn_inserts_per_page=3, churn_deletes_per_page=4)
    sb = sandbox(client)
    initial = {p["profileId"] for p in sb.records("profiles")}
    rows, sizes = await scan(client, PROFILES, await bearer(client), "profiles", limit=25)
    served = [row["profileId"] for row in rows]
    assert served == sorted(set(served))  # no repeats, no going back
    final = {p["profileId"] for p in sb.records("profiles")}
    assert all(k > served[-1] for k in final - set(served))  # only rows inserted after the end
    assert set(served) - initial  # inserted during the scan, then served
    vanished = initial - set(served)
    assert vanished  # deleted ahead of the cursor
    assert not vanished & final
    pages_with_rows = len([s for s in sizes if s])
    assert len(initial) + 3 * pages_with_rows - 4 * pages_with_rows == len(final)


async def test_churn_applies_to_custom_records_too(make_actito):
    """Business keys grow past the cursor, so a scan still reaches rows inserted during it."""
    client = await make_actito(churn_inserts_per_page=2, churn_deletes_per_page=1)
    sb = sandbox(client)
    initial = {r["businessKey"] for r in sb.records("custom")}
    rows, _ = await scan(client, RECORDS, await bearer(client), "records", limit=50)
    served = [row["businessKey"] for row in rows]
    assert served == sorted(set(served))
    final = {r["businessKey"] for r in sb.records("custom")}
    assert all(k > served[-1] for k in final - set(served))
    assert set(served) - initial
