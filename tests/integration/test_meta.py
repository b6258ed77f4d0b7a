"""mirror_meta on real Postgres, read as the analyst role (`grant-analyst`, then SET ROLE):
freshness per stream, run history, the quarantine by reason, the schema-change log, with no
URL and no token, and schema syncer closed to the role."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from croniter import croniter

from syncer import admin, engine, jobs, push, roles, schedules
from tests import outbox
from tests.conftest import TOKEN, SandboxFactory, exto_config

pytestmark = pytest.mark.integration

TABLE = "exto__master_location"
VIEWS = ("streams", "runs", "quarantine", "schema_changes")


@pytest.fixture
async def analyst(db_url: str, db: asyncpg.Connection) -> AsyncIterator[str]:
    """A read-only role made by grant-analyst (unique: roles are global), dropped after."""
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    await roles.grant_analyst(db_url, role)
    yield role
    await db.execute(f'DROP OWNED BY "{role}"')
    await db.execute(f'DROP ROLE "{role}"')


Read = Callable[[str], Any]


@pytest.fixture
def as_analyst(db: asyncpg.Connection, analyst: str) -> Read:
    """Run one query as the analyst role (SET LOCAL ROLE in a transaction rolled back)."""

    async def read(sql: str) -> list[asyncpg.Record]:
        tx = db.transaction()
        await tx.start()
        try:
            await db.execute(f'SET LOCAL ROLE "{analyst}"')
            return list(await db.fetch(sql))
        finally:
            await tx.rollback()

    return read


async def rows_of(read: Read, view: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await read(f"SELECT * FROM mirror_meta.{view}")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def counts(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(
        f"SELECT count(*) FILTER (WHERE _deleted_at IS NULL) AS live, "
        f"count(*) FILTER (WHERE _deleted_at IS NOT NULL) AS gone FROM mirror.{TABLE}"
    )
    assert row is not None
    return row["live"], row["gone"]


async def test_the_analyst_reads_each_streams_freshness_and_schema_syncer_stays_closed(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    url, _ = await sandbox(master_records=400)
    config = exto_config(url, schedules=[{"cron": "0 2 * * *", "mode": "incremental"}])
    [result] = await engine.sync(config, db_url)
    assert result.status == "succeeded"

    [row] = await rows_of(as_analyst, "streams")
    live, gone = await counts(db)
    assert live > 0
    assert row["connection"] == "exto" and row["stream"] == "master:LOCATION"
    assert row["vendor"] == "exto"
    assert row["mirror_table"] == f"mirror.{TABLE}"
    assert row["typed_view"] == f"mirror_view.{TABLE}"
    assert row["last_success_run_id"] == result.run_id == row["last_run_id"]
    assert row["last_run_status"] == "succeeded" and row["last_run_error"] is None
    finished = await db.fetchval("SELECT finished_at FROM syncer.runs")
    assert row["last_success_at"] == finished == row["last_run_finished_at"]
    assert row["last_full_pass_at"] is not None
    assert (row["live_rows"], row["deleted_rows"]) == (live, gone) == (live, 0)
    assert (row["quarantined_last_run"], row["quarantined_keys"]) == (0, 0)
    assert row["schedules"] == ["0 2 * * * incremental"]
    expected = croniter("0 2 * * *", datetime.now(UTC)).get_next(datetime)
    assert row["next_run_at"] == expected and row["next_run_mode"] == "incremental"

    [run] = await rows_of(as_analyst, "runs")
    assert run["run_id"] == result.run_id and run["records"] == result.stats.records
    assert run["complete"] is True and run["mode"] == "full"
    for view in VIEWS:  # each reads as the role
        await as_analyst(f"SELECT * FROM mirror_meta.{view}")
    for table in ("runs", "streams", "stream_state", "quarantine", "schema_changes"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema syncer"):
            await as_analyst(f"SELECT * FROM syncer.{table}")


async def test_counts_follow_deletes_held_then_confirmed(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    """Counted when each run ends: a sync that held its deletes, then `deletes confirm`."""
    url, sb = await sandbox(master_records=400)
    config = exto_config(url, max_delete_share=0.01)
    await engine.sync(config, db_url)
    sb.generation(change_pct=0, delete_pct=20.0, insert_pct=5.0)
    [held] = await engine.sync(config, db_url)
    assert held.stats.held_deletes > 0
    [row] = await rows_of(as_analyst, "streams")
    assert (row["live_rows"], row["deleted_rows"]) == await counts(db)
    assert row["deleted_rows"] == 0
    confirmed = await admin.confirm_deletes(db_url, "exto/master:LOCATION")
    assert confirmed > 0
    [row] = await rows_of(as_analyst, "streams")
    assert (row["live_rows"], row["deleted_rows"]) == await counts(db)
    assert row["deleted_rows"] == confirmed
    assert row["last_run_mode"] == "deletes"
    assert row["last_success_run_id"] == held.run_id  # a sync, not the operator's run


async def test_counts_follow_a_push_that_the_mirror_follows(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    url, _ = await sandbox(master_records=100)
    config = exto_config(url, options={"unique:LOCATION": "serial_number"})
    await engine.sync(config, db_url)
    [before] = await rows_of(as_analyst, "streams")
    rows = [{"serial_number": 2_000_000 + i, "name": f"Pushed {i}"} for i in range(30)]
    await outbox.enqueue(db, "exto", "master:LOCATION", "upsert", rows)
    [pushed] = await push.push(config, db_url)
    assert pushed.accepted == 30
    [after] = await rows_of(as_analyst, "streams")
    assert (after["live_rows"], after["deleted_rows"]) == await counts(db)
    assert after["live_rows"] == before["live_rows"] + 30
    assert after["last_run_mode"] == "push"


async def test_a_failed_run_naming_its_base_url_shows_neither_url_nor_token(
    db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/data"
    [result] = await engine.sync(exto_config(url), db_url)
    assert result.status == "failed"
    raw = await db.fetchval("SELECT error FROM syncer.runs")
    assert url in raw  # what the views must mask is there to mask

    [row] = await rows_of(as_analyst, "streams")
    assert row["last_run_status"] == "failed" and row["last_success_run_id"] is None
    assert row["mirror_table"] is None  # a first run that read nothing leaves no table
    assert "cannot reach <url>" in row["last_run_error"]
    [run] = await rows_of(as_analyst, "runs")
    assert run["error"] == row["last_run_error"]
    shown = " ".join([str(await rows_of(as_analyst, view)) for view in VIEWS])
    for secret in (url, f"127.0.0.1:{port}", f":{port}", "http", TOKEN):
        assert secret not in shown


async def test_urls_and_host_ports_are_masked(db: asyncpg.Connection) -> None:
    cases = {
        "cannot reach http://127.0.0.1:4567/data (127.0.0.1:4567: refused)": (
            "cannot reach <url> (<host>: refused)"
        ),
        "GET HTTPS://api.example.com/v1/x?token=abc failed": "GET <url> failed",
        "'https://a.example/b' and localhost:80 and [::1]:8080": "'<url>' and <host> and <host>",
        "column x of mirror_view.t changed type at 12:30": (
            "column x of mirror_view.t changed type at 12:30"
        ),
    }
    for text, masked in cases.items():
        assert await db.fetchval("SELECT mirror_meta.without_urls($1)", text) == masked
    assert await db.fetchval("SELECT mirror_meta.without_urls(NULL)") is None


async def test_quarantine_counts_by_reason_without_payloads(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    url, _ = await sandbox(master_records=300, poison=True)
    [result] = await engine.sync(exto_config(url), db_url)
    assert result.status == "quarantined"
    rows = await rows_of(as_analyst, "quarantine")
    expected = await db.fetch(
        "SELECT reason, count(*) AS records, count(DISTINCT key) AS keys, "
        "count(*) FILTER (WHERE key IS NULL) AS unkeyed FROM syncer.quarantine GROUP BY reason"
    )
    assert {(r["reason"], r["records"], r["keys"], r["records_without_key"]) for r in rows} == {
        (e["reason"], e["records"], e["keys"], e["unkeyed"]) for e in expected
    }
    assert all(r["last_run_id"] == result.run_id for r in rows)
    assert "raw" not in rows[0]
    [stream] = await rows_of(as_analyst, "streams")
    assert stream["quarantined_last_run"] == result.stats.quarantined >= 5
    assert stream["quarantined_records"] == sum(r["records"] for r in rows)
    assert stream["quarantined_keys"] == await db.fetchval(
        "SELECT count(DISTINCT key) FROM syncer.quarantine"
    )


async def test_the_schema_change_log_names_stream_and_typed_view(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    """The first sync logs each typed column as a new field; the view names its stream."""
    url, _ = await sandbox(master_records=100)
    [result] = await engine.sync(exto_config(url), db_url)
    changes = {c["field"]: c for c in await rows_of(as_analyst, "schema_changes")}
    change = changes["customFields.city"]
    assert (change["connection"], change["stream"]) == ("exto", "master:LOCATION")
    assert change["typed_view"] == f"mirror_view.{TABLE}"
    assert change["kind"] == "new_field" and change["column_name"] == "city"
    assert change["run_id"] == result.run_id and change["at"] is not None


async def test_a_configured_stream_has_its_next_run_before_it_ever_syncs(
    db_url: str, db: asyncpg.Connection, token_env: str, as_analyst: Read
) -> None:
    """Recorded from the config: schedules per stream, none (NULL), dropped streams forgotten."""
    hourly = [{"cron": "15 * * * *", "mode": "incremental"}, {"cron": "0 3 * * 0", "mode": "full"}]
    config = exto_config(
        "http://127.0.0.1:9/data",
        streams=("master:LOCATION", "users"),
        per_stream={"master:LOCATION": {"schedules": hourly}},
    )
    await schedules.record_at(db_url, config)
    rows = {r["stream"]: r for r in await rows_of(as_analyst, "streams")}
    assert rows.keys() == {"master:LOCATION", "users"}
    location = rows["master:LOCATION"]
    assert location["vendor"] == "exto" and location["mirror_table"] is None
    assert location["schedules"] == ["15 * * * * incremental", "0 3 * * 0 full"]
    now = datetime.now(UTC)
    soonest = min(croniter(c, now).get_next(datetime) for c in ("15 * * * *", "0 3 * * 0"))
    assert location["next_run_at"] == soonest
    assert rows["users"]["next_run_at"] is None and rows["users"]["schedules"] == []

    # an unchanged config rewrites nothing (its ticks are good for a while)
    written = "SELECT xmin::text FROM syncer.configured_streams ORDER BY stream"
    first = [r["xmin"] for r in await db.fetch(written)]
    await schedules.record_at(db_url, config)
    assert [r["xmin"] for r in await db.fetch(written)] == first
    # ticks run out while nothing runs (no worker): NULL, then the next record renews them
    await db.execute(
        "UPDATE syncer.configured_streams SET upcoming = ARRAY[now() - interval '1 hour'], "
        "upcoming_modes = '{full}' WHERE stream = 'master:LOCATION'"
    )
    stale = {r["stream"]: r for r in await rows_of(as_analyst, "streams")}
    assert stale["master:LOCATION"]["next_run_at"] is None
    await schedules.record_at(db_url, config)
    renewed = {r["stream"]: r for r in await rows_of(as_analyst, "streams")}
    assert renewed["master:LOCATION"]["next_run_at"] == soonest

    # a run records the streams it runs, afresh, and forgets none
    daily = exto_config(
        "http://127.0.0.1:9/data",
        streams=("master:LOCATION", "users"),
        per_stream={"users": {"schedules": [{"cron": "0 5 * * *", "mode": "full"}]}},
    )
    await engine.sync(daily, db_url, only=["users"])  # fails (nothing listens): records first
    rows = {r["stream"]: r for r in await rows_of(as_analyst, "streams")}
    assert rows["users"]["next_run_at"] == croniter("0 5 * * *", now).get_next(datetime)
    assert rows["master:LOCATION"]["next_run_at"] == soonest

    # the whole config forgets the streams it no longer names
    await schedules.record_at(db_url, exto_config("http://127.0.0.1:9/data", streams=("users",)))
    assert [r["stream"] for r in await rows_of(as_analyst, "streams")] == ["users"]


async def test_queueing_runs_records_the_schedules(db_url: str, as_analyst: Read) -> None:
    config = exto_config("http://127.0.0.1:9/data", schedules=[{"cron": "0 2 * * *"}])
    await jobs.queue_streams(db_url, config, [], None)
    [row] = await rows_of(as_analyst, "streams")
    assert row["next_run_at"] == croniter("0 2 * * *", datetime.now(UTC)).get_next(datetime)
