"""Outbox rows pushed to the Exto sandbox over HTTP, outcomes stored in real Postgres."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import pytest

from syncer import engine, push
from syncer.settings import Config
from tests import outbox
from tests.conftest import TOKEN, SandboxFactory, exto_config

pytestmark = pytest.mark.integration

OPTIONS = {"unique:LOCATION": "serial_number"}


async def enqueue(db: asyncpg.Connection, rows: list[dict[str, object]]) -> None:
    await outbox.enqueue(db, "exto", "master:LOCATION", "upsert", rows)


states = outbox.states


def new_rows(n: int, start: int = 1_000_000) -> list[dict[str, object]]:
    return [
        {"serial_number": start + i, "name": f"Pushed {i}", "city": "Lyon", "capacity": i}
        for i in range(n)
    ]


async def desired_locations(
    url: str, db_url: str, db: asyncpg.Connection, limit: int | None = None
) -> Config:
    """A config whose desired-state table `analytics.desired_locations` (serial_number, name,
    city) holds what a first sync mirrored (its first `limit` serial numbers, or all)."""
    desired = [
        {
            "table": "analytics.desired_locations",
            "endpoint": "master:LOCATION",
            "key": "serial_number",
            "fields": ["name", "city"],
        }
    ]
    config = exto_config(url, options=OPTIONS, desired=desired)
    await engine.sync(config, db_url)
    await db.execute("CREATE SCHEMA analytics")
    await db.execute(
        "CREATE TABLE analytics.desired_locations AS "
        "SELECT (_data->'customFields'->>'serial_number')::int AS serial_number, "
        "_data->'customFields'->>'name' AS name, _data->'customFields'->>'city' AS city "
        "FROM mirror.exto__master_location ORDER BY 1"
        + ("" if limit is None else f" LIMIT {limit}")
    )
    return config


async def test_bad_rows_are_isolated_by_bisection_and_the_rest_accepted(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """10 chunks of 1,000 rows with 3 bad rows each: 9,970 accepted, 30 rejected with reasons."""
    url, sb = await sandbox(master_records=100)
    rows = new_rows(10_000)
    for chunk in range(10):
        for offset in (17, 500, 901):
            rows[chunk * 1000 + offset]["serial_number"] = f"bad-{chunk}-{offset}"
    await enqueue(db, rows)
    [result] = await push.push(exto_config(url, options=OPTIONS), db_url)
    assert (result.accepted, result.rejected, result.invalid) == (9_970, 30, 0)
    assert await states(db) == {"accepted": 9_970, "rejected": 30}
    messages = await db.fetch("SELECT message FROM syncer.outbox WHERE state = 'rejected'")
    assert all("serial_number" in m["message"] for m in messages)
    posts = [e for e in sb.request_log if e.method == "POST"]
    # each bad row costs at most one request per level of bisection (log2 1000 ~ 10)
    assert len(posts) <= 10 + 30 * 2 * 10
    applied = {k for w in sb.ledger for k in w.keys}
    assert len(applied) == 9_970
    ids = await db.fetchval(
        "SELECT count(*) FROM syncer.outbox "
        "WHERE state = 'accepted' AND vendor_id ~ '^[0-9a-f]{24}$'"
    )
    assert ids == 9_970


async def test_rows_without_the_unique_field_are_invalid_and_never_sent(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=100)
    await enqueue(db, [{"name": "no key"}, *new_rows(3)])
    [result] = await push.push(exto_config(url, options=OPTIONS), db_url)
    assert (result.accepted, result.invalid) == (3, 1)
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'invalid'")
    assert "serial_number" in message
    assert all(b"no key" not in orjson.dumps(w.keys) for w in sb.ledger)


async def test_a_second_push_sends_nothing_and_the_mirror_has_the_vendor_state(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=100)
    await enqueue(db, new_rows(250))
    config = exto_config(url, options=OPTIONS)
    await push.push(config, db_url)
    sb.reset_log()
    [again] = await push.push(config, db_url)
    assert (again.accepted, again.rejected, again.requests) == (0, 0, 0)
    assert sb.request_log == []
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.exto__master_location "
        "WHERE _data->'customFields'->>'city' = 'Lyon'"
    )
    assert mirrored == 250


async def test_an_ambiguous_timeout_never_duplicates(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The vendor applies the chunk but answers too late; the retry upserts, nothing doubles."""
    url, sb = await sandbox(master_records=100)
    await enqueue(db, new_rows(40))
    sb.config.write_delay_ms = 1_500
    config = exto_config(url, options=OPTIONS, timeout=0.5)
    [result] = await push.push(config, db_url)
    sb.config.write_delay_ms = 0
    assert result.accepted == 40
    serials = [r["customFields"]["serial_number"] for r in sb.records("master", "LOCATION")]
    assert len(serials) == len(set(serials)) == 140


async def test_rows_left_sending_by_a_dead_push_are_sent_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, _ = await sandbox(master_records=100)
    await enqueue(db, new_rows(10))
    await db.execute("UPDATE syncer.outbox SET state = 'sending', push_id = -1 WHERE id <= 5")
    [result] = await push.push(exto_config(url, options=OPTIONS), db_url)
    assert result.accepted == 10 and await states(db) == {"accepted": 10}


async def test_pull_and_push_on_one_credential_stay_under_the_limit(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=6_000, rate_limit=3)
    await enqueue(db, new_rows(3_000))
    config = exto_config(url, options=OPTIONS, rate_limit=3)
    [pulled], [pushed] = await asyncio.gather(
        engine.sync(config, db_url), push.push(config, db_url)
    )
    assert pulled.status == "succeeded" and pushed.accepted == 3_000
    assert sb.max_in_window(TOKEN) <= 3 and sb.count_status(429) == 0


async def test_a_desired_state_table_sends_only_what_differs(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """1% of 5,000 desired rows differ: only those are sent, in ceil(n/1,000) POSTs; a second
    push sends nothing, because the mirror was refreshed from the vendor."""
    url, sb = await sandbox(master_records=5_000)
    config = await desired_locations(url, db_url, db)
    await db.execute(
        "UPDATE analytics.desired_locations SET city = 'Renamed ' || serial_number "
        "WHERE serial_number % 100 = 0"
    )
    lines = await push.plan(config, db_url)
    assert [(x["create"], x["update"]) for x in lines] == [(0, 50)]
    sb.reset_log()
    [result] = await push.push(config, db_url)
    assert result.accepted == 50
    posts = [e for e in sb.request_log if e.method == "POST"]
    assert len(posts) == 1
    changed = [
        r
        for r in sb.records("master", "LOCATION")
        if str(r["customFields"]["city"]).startswith("Renamed")
    ]
    assert len(changed) == 50
    sb.reset_log()
    [again] = await push.push(config, db_url)
    assert again.accepted == 0 and [e for e in sb.request_log if e.method == "POST"] == []


async def test_null_in_a_desired_column_leaves_the_vendors_value(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """NULL is no opinion: a row whose only difference is a NULL is not sent, and a row sent
    for another field does not carry the NULL (the vendor keeps its value)."""
    url, sb = await sandbox(master_records=200)
    config = await desired_locations(url, db_url, db, limit=2)
    first, second = [
        r["serial_number"]
        for r in await db.fetch("SELECT serial_number FROM analytics.desired_locations ORDER BY 1")
    ]
    before = {
        r["customFields"]["serial_number"]: r["customFields"]["city"]
        for r in sb.records("master", "LOCATION")
    }
    # the first: only a NULL differs; the second: a new name, and a NULL city
    await db.execute("UPDATE analytics.desired_locations SET city = NULL")
    await db.execute(
        "UPDATE analytics.desired_locations SET name = 'Renamed' WHERE serial_number = $1", second
    )
    [line] = await push.plan(config, db_url)
    assert (line["create"], line["update"]) == (0, 1)
    sb.reset_log()
    [result] = await push.push(config, db_url)
    assert result.accepted == 1 and result.rejected == 0
    [sent] = await db.fetch("SELECT payload FROM syncer.outbox")
    assert orjson.loads(sent["payload"]) == {"serial_number": second, "name": "Renamed"}
    after = {
        r["customFields"]["serial_number"]: r["customFields"]
        for r in sb.records("master", "LOCATION")
    }
    assert after[first]["city"] == before[first] and after[second]["city"] == before[second]
    assert after[second]["name"] == "Renamed"


async def test_without_read_back_a_push_sends_only_the_upserts(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """push_read_back = false: one POST per chunk and nothing else; the rows are accepted on the
    counts alone, without vendor ids, and the next pull brings the mirror up to date."""
    url, sb = await sandbox(master_records=100)
    await enqueue(db, new_rows(1_500))
    config = exto_config(url, options=OPTIONS, push_read_back=False)
    [result] = await push.push(config, db_url)
    assert result.accepted == 1_500
    assert [e.method for e in sb.request_log] == ["POST", "POST"]
    assert await db.fetchval("SELECT count(vendor_id) FROM syncer.outbox") == 0
    await engine.sync(config, db_url)
    mirrored = await db.fetchval(
        "SELECT count(*) FROM mirror.exto__master_location "
        "WHERE _data->'customFields'->>'name' LIKE 'Pushed %'"
    )
    assert mirrored == 1_500
