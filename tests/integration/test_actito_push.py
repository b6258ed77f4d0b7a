"""Outbox rows pushed to the Actito sandbox: create-or-update one record per call, within the
licence's concurrency cap."""

from __future__ import annotations

from functools import partial

import asyncpg
import orjson
import pytest

from syncer import engine, push
from tests import outbox, sandboxes
from tests.conftest import vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

OPTIONS = {"entity": "sandbox", "unique:customers": "emailAddress", "unique:orders": "orderId"}
start = partial(sandboxes.actito, profiles=300, custom_records=100, latency_ms=20)
key = sandboxes.token_fixture(sandboxes.ACTITO_KEY)


def email_of(profile: dict[str, object]) -> str:
    attributes = profile["attributes"]
    assert isinstance(attributes, list)
    return str(next(a["value"] for a in attributes if a["name"] == "emailAddress"))


async def test_profiles_are_created_or_updated_by_their_unique_attribute(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    url, sb = await start(serve)
    config = vendor_config(
        "actito", url, ("profiles:customers",), options=OPTIONS, max_in_flight=4, page_size=100
    )
    await engine.sync(config, db_url)
    existing = [email_of(p) for p in sb.records("profiles")[:5]]
    rows: list[dict[str, object]] = [{"emailAddress": e, "lastName": "Pushed"} for e in existing]
    rows += [
        {
            "emailAddress": f"new{n}@example.com",
            "customerId": f"C-9{n:04d}",
            "loyaltyPoints": n,
            "motherLanguage": "EN",
            "lastName": "Pushed",
        }
        for n in range(6)
    ]
    rows.append({"emailAddress": "incomplete@example.com", "lastName": "Pushed"})
    rows.append({"lastName": "no email"})
    await outbox.enqueue(db, "actito", "profiles:customers", "upsert", rows)
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.rejected, result.invalid) == (11, 1, 1), result.error
    created = [w for w in sb.ledger if w.operation == "profile.create"]
    updated = [w for w in sb.ledger if w.operation == "profile.update"]
    assert (len(created), len(updated)) == (6, 5)
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'rejected'")
    assert "customerId" in message
    assert sb.count_status(429) == 0 and sb.max_concurrent <= 4
    pushed = await db.fetchval(
        "SELECT count(*) FROM mirror_view.actito__profiles_customers WHERE last_name = 'Pushed'"
    )
    assert pushed == result.accepted
    ids = await db.fetch("SELECT vendor_id FROM syncer.outbox WHERE state = 'accepted'")
    assert all(r["vendor_id"] and r["vendor_id"].isdigit() for r in ids)


async def test_a_desired_state_table_in_view_column_names_sends_only_what_differs(
    serve: Serve, db_url: str, db: asyncpg.Connection, key: str
) -> None:
    """The desired table uses the typed view's column names (`email_address`, `last_name`);
    the diff reads the attributes list and sends Actito's own names, only for changed rows."""
    url, sb = await start(serve)
    desired = [
        {
            "table": "analytics.desired_profiles",
            "endpoint": "profiles:customers",
            "key": "email_address",
            "fields": ["last_name"],
        }
    ]
    config = vendor_config(
        "actito",
        url,
        ("profiles:customers",),
        options=OPTIONS,
        max_in_flight=4,
        page_size=100,
        desired=desired,
    )
    await engine.sync(config, db_url)
    await db.execute("CREATE SCHEMA analytics")
    await db.execute(
        "CREATE TABLE analytics.desired_profiles AS SELECT email_address, last_name "
        "FROM mirror_view.actito__profiles_customers"
    )
    changed = await db.fetch(
        "UPDATE analytics.desired_profiles SET last_name = 'Desired' "
        "WHERE email_address IN (SELECT email_address FROM analytics.desired_profiles "
        "ORDER BY email_address LIMIT 3) RETURNING email_address"
    )
    [line] = await push.plan(config, db_url)
    assert (line["create"], line["update"]) == (0, 3)
    sample = orjson.loads(line["samples"][0])
    assert set(sample) == {"emailAddress", "lastName"}
    sb.reset_log()
    [result] = await push.push(config, db_url)
    assert result.accepted == 3
    by_email = {email_of(p): p for p in sb.records("profiles")}
    for row in changed:
        attributes = by_email[row["email_address"]]["attributes"]
        assert {"name": "lastName", "value": "Desired"} in attributes
    [again] = await push.push(config, db_url)
    assert again.accepted == 0 and again.requests == 0
