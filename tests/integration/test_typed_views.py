"""Typed views complete, vendor by vendor: every timestamp field typed timestamptz (read in the
vendor's zone when it writes none), `_source_updated_at` filled from each vendor's updated-at
field, and Exto's own soft deletes kept in mirror.* but out of mirror_view.*. Each vendor's
sandbox over HTTP, the views read from the catalog and queried."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest

from syncer import engine, errors
from syncer.mirror import Mirror
from syncer.models import ViewSpec
from tests import sandboxes
from tests.conftest import TOKEN, TOKEN_ENV, SandboxFactory, exto_config, vendor_config
from tests.integration.analyst_role import as_analyst
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

actito = partial(sandboxes.actito, profiles=300, custom_records=200)
xtrakit = partial(sandboxes.xtrakit, customers=200, items=150, categories=10, sales=200)
ioto = partial(sandboxes.ioto, devices=150, store_items=150, logs=150)


async def column_types(db: asyncpg.Connection, view: str) -> dict[str, str]:
    """column -> SQL type of mirror_view.<view>, from the catalog."""
    rows = await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'mirror_view' AND table_name = $1",
        view,
    )
    return {r["column_name"]: r["data_type"] for r in rows}


def laravel(value: str, zone: str = "UTC") -> datetime:
    """`YYYY-MM-DD HH:MM:SS` written in `zone`, as an instant."""
    return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def attribute(record: dict[str, Any], list_key: str, name: str) -> Any:
    return next(a["value"] for a in record[list_key] if a["name"] == name)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Brussels"])
async def test_actito_moments_are_instants_in_the_connection_zone(
    serve: Serve, db_url: str, db: asyncpg.Connection, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandboxes.ACTITO_KEY)
    url, sb = await actito(serve)
    options = {"entity": "sandbox", "time_zone": zone}
    config = vendor_config("actito", url, ("profiles:customers", "custom:orders"), options=options)
    results = await engine.sync(config, db_url)
    assert [r.status for r in results] == ["succeeded"] * 2, [r.error for r in results]
    async with as_analyst(db_url, db):
        await check_actito(db, sb, zone)


async def check_actito(db: asyncpg.Connection, sb: Any, zone: str) -> None:
    for table, records, list_key, key in (
        ("actito__profiles_customers", sb.records("profiles"), "attributes", "profileId"),
        ("actito__custom_orders", sb.records("custom"), "properties", "businessKey"),
    ):
        types = await column_types(db, table)
        assert types["creation_moment"] == types["update_moment"] == "timestamp with time zone"
        # the analyst's session zone moves nothing: the vendor's zone is in the view
        await db.execute("SET TimeZone = 'America/New_York'")
        rows = await db.fetch(
            f"SELECT _pk, creation_moment, update_moment, _source_updated_at "
            f"FROM mirror_view.{table}"
        )
        assert len(rows) == len(records) > 0
        by_key = {str(r[key]): r for r in records}
        for row in rows:
            record = by_key[row["_pk"]]
            created = attribute(record, list_key, "creationMoment")
            updated = attribute(record, list_key, "updateMoment")
            assert row["creation_moment"] == laravel(created, zone)
            assert row["update_moment"] == row["_source_updated_at"] == laravel(updated, zone)


async def test_an_unknown_time_zone_is_a_config_error_before_any_request(
    serve: Serve, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandboxes.ACTITO_KEY)
    url, sb = await actito(serve)
    options = {"entity": "sandbox", "time_zone": "Mars/Olympus"}
    config = vendor_config("actito", url, ("profiles:customers",), options=options)
    with pytest.raises(errors.ConfigError, match=r"Mars/Olympus.*IANA"):
        await engine.sync(config, db_url)
    assert sb.token_requests == 0


async def test_xtrakit_stamps_are_timestamptz_and_dates_are_dates(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandboxes.XTRAKIT_KEY)
    url, sb = await xtrakit(serve)
    results = await engine.sync(vendor_config("xtrakit", url, ("customers", "sales")), db_url)
    assert [r.status for r in results] == ["succeeded"] * 2, [r.error for r in results]
    async with as_analyst(db_url, db):
        await check_xtrakit(db, sb)


async def check_xtrakit(db: asyncpg.Connection, sb: Any) -> None:
    types = await column_types(db, "xtrakit__sales")
    assert types["created_at"] == types["updated_at"] == "timestamp with time zone"
    assert types["due_date"] == types["payment_date"] == "date"
    # money sent as strings, numbers in the view
    assert types["discount_amount"] == types["tax_amount"] == types["total_amount"] == "numeric"
    assert (await column_types(db, "xtrakit__customers"))["created_at"] == (
        "timestamp with time zone"
    )
    rows = await db.fetch(
        "SELECT _pk, created_at, updated_at, _source_updated_at, due_date FROM "
        "mirror_view.xtrakit__sales"
    )
    by_id = {str(r["id"]): r for r in sb.records("sales")}
    assert len(rows) == len(by_id) > 0
    for row in rows:
        sale = by_id[row["_pk"]]
        assert row["created_at"] == laravel(sale["created_at"])
        assert row["updated_at"] == row["_source_updated_at"] == laravel(sale["updated_at"])
        assert row["due_date"].isoformat() == sale["due_date"]


async def test_ioto_dates_are_timestamptz_and_updated_fills_source_updated_at(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandboxes.IOTO_TOKEN)
    url, _ = await ioto(serve)
    options = {"account_id": "01SANDBOXACCOUNT000000000"}
    config = vendor_config("ioto", url, ("devices", "store", "generic:Log"), options=options)
    results = await engine.sync(config, db_url)
    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    async with as_analyst(db_url, db):
        await check_ioto(db)


async def check_ioto(db: asyncpg.Connection) -> None:
    types = await column_types(db, "ioto__devices")
    for column in ("created", "updated", "accessed"):
        assert types[column] == "timestamp with time zone", column
    store = await column_types(db, "ioto__store")
    # `expires` is null on every item the sandbox sends: typed all the same
    assert store["updated"] == store["expires"] == "timestamp with time zone"
    for table in ("ioto__devices", "ioto__store", "ioto__generic_log"):
        differ = await db.fetchval(
            f"SELECT count(*) FROM mirror_view.{table} "
            "WHERE _source_updated_at IS DISTINCT FROM updated"
        )
        live = await db.fetchval(f"SELECT count(*) FROM mirror_view.{table}")
        assert differ == 0 and live > 0, table


async def test_exto_soft_deletes_stay_in_the_mirror_and_leave_the_view(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=300)
    config = exto_config(url)
    await engine.sync(config, db_url)
    types = await column_types(db, "exto__master_location")
    assert types["updated_at"] == types["created_at"] == "timestamp with time zone"
    assert await db.fetchval("SELECT count(*) FROM mirror_view.exto__master_location") == 300
    doomed = [r["refId"] for r in sb.records("master", "LOCATION")[:3]]
    user = next(u["user"]["userName"] for u in sb.records("users") if u["user"]["status"] == 1)
    async with aiohttp.ClientSession() as http:
        answer = await http.delete(
            f"{url}/api/v1/master-record/LOCATION",
            params={"userName": user},
            json=[{"refId": ref} for ref in doomed],
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status == 200, await answer.text()
    results = await engine.sync(config, db_url)
    assert results[0].status == "succeeded" and results[0].stats.updated == 3
    async with as_analyst(db_url, db):
        await check_exto_soft_deletes(db, doomed)


async def check_exto_soft_deletes(db: asyncpg.Connection, doomed: list[str]) -> None:
    soft = await db.fetch(
        "SELECT _data ->> 'refId' AS ref, _deleted_at FROM mirror.exto__master_location "
        "WHERE (_data ->> 'isDeleted')::boolean"
    )
    assert sorted(r["ref"] for r in soft) == sorted(doomed)
    assert all(r["_deleted_at"] is None for r in soft)  # the vendor still lists them
    shown = await db.fetchval(
        "SELECT count(*) FROM mirror_view.exto__master_location WHERE ref_id = ANY($1::text[])",
        doomed,
    )
    assert shown == 0
    assert await db.fetchval("SELECT count(*) FROM mirror_view.exto__master_location") == 297


async def test_a_mirror_synced_before_the_upgrade_gets_its_stamps_typed(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before migration 0016, stamps without an offset were recorded as strings (a text column);
    syncer.reclassify_local_timestamps forgets that kind for fields whose every value is such a
    stamp, so the next sync gives them timestamptz columns, and leaves real strings alone."""
    monkeypatch.setenv(TOKEN_ENV, sandboxes.XTRAKIT_KEY)
    url, _ = await xtrakit(serve)
    config = vendor_config("xtrakit", url, ("customers",))
    await engine.sync(config, db_url)
    # the state an older syncer left: the stamps' kind "string", the view's columns text
    await db.execute(
        "UPDATE syncer.stream_fields SET json_type = 'string' WHERE json_type = 'local_timestamp'"
    )
    # ... and its view published them as text
    await db.execute("DROP VIEW mirror_view.xtrakit__customers")
    await db.execute("DELETE FROM syncer.view_columns")
    await db.execute("UPDATE syncer.stream_columns SET column_type = NULL")
    async with Mirror.connect(db_url) as mirror:
        ref = await mirror.ensure_stream("xtrakit", "customers")
        await mirror.views.refresh(ref, ViewSpec())
    assert (await column_types(db, "xtrakit__customers"))["updated_at"] == "text"
    assert await db.fetchval("SELECT syncer.reclassify_local_timestamps()") == 2
    kinds = dict(
        await db.fetch(
            "SELECT path[1], pg_catalog.array_agg(json_type) FROM syncer.stream_fields "
            "GROUP BY path[1]"
        )
    )
    assert "created_at" not in kinds and "updated_at" not in kinds
    assert kinds["customer_email"] == ["string"]
    results = await engine.sync(config, db_url)
    assert results[0].status == "succeeded", results[0].error
    # a published column keeps its type (docs/analysts.md, "Schema changes"): the stamps get
    # columns of their own beside the text ones
    types = await column_types(db, "xtrakit__customers")
    assert types["updated_at"] == types["created_at"] == "text"
    assert types["updated_at_timestamptz"] == "timestamp with time zone"
    assert types["created_at_timestamptz"] == "timestamp with time zone"
    assert types["customer_email"] == "text"
