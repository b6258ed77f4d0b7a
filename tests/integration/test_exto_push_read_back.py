"""Exto push read-backs over HTTP against the sandbox, outcomes and mirror in real Postgres: as
few read-backs as Exto's page size and an 8 KB URL allow, 414s split, and the mirror equal to
the vendor after the push."""

from __future__ import annotations

import asyncpg
import orjson
import pytest
from yarl import URL

from syncer import push
from syncer.sandbox.exto import ExtoSandbox
from tests import outbox
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

OPTIONS = {"unique:LOCATION": "serial_number"}
#: a unique field no generated record has, so it takes strings and fractions too
CODE = {"unique:LOCATION": "code"}
CODE_KNOBS = {"unique_fields": {"LOCATION": ("code",)}}


async def enqueue(db: asyncpg.Connection, keys: list[object], field: str = "serial_number") -> None:
    rows = [{field: k, "name": f"Pushed {k}", "city": "Lyon"} for k in keys]
    await outbox.enqueue(db, "exto", "master:LOCATION", "upsert", rows)


def targets(sb: ExtoSandbox, method: str = "GET") -> list[str]:
    """The request targets (path and query, as sent) of the sandbox's logged requests."""
    return [
        URL(e.path).with_query(e.query).raw_path_qs for e in sb.request_log if e.method == method
    ]


async def assert_mirror_equals_vendor(
    db: asyncpg.Connection, sb: ExtoSandbox, keys: list[object], field: str = "serial_number"
) -> None:
    """Every pushed key: its outbox row accepted with the vendor's `_id`, its mirrored record
    the vendor's record, field for field (server-set `_id`, `createdAt`, `updatedAt` included)."""
    vendor = {
        str(r["customFields"][field]): r
        for r in sb.records("master", "LOCATION")
        if not r.get("isDeleted") and field in r["customFields"]
    }
    wanted = {str(k) for k in keys}
    mirrored = {
        row["key"]: orjson.loads(row["data"])
        for row in await db.fetch(
            "SELECT _data->'customFields'->>$1 AS key, _data::text AS data "
            "FROM mirror.exto__master_location",
            field,
        )
        if row["key"] in wanted
    }
    assert set(mirrored) == wanted
    assert all(mirrored[k] == vendor[k] for k in wanted)
    ids = {
        r["key"]: r["vendor_id"]
        for r in await db.fetch(
            "SELECT payload->>$1 AS key, vendor_id FROM syncer.outbox WHERE state = 'accepted'",
            field,
        )
    }
    assert ids == {k: vendor[k]["_id"] for k in wanted}


async def test_10000_consecutive_keys_take_10_upserts_and_10_read_backs(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Runs of serial numbers go as ranges: one read-back of 1,000 records per upsert, each URL
    far below 8 KB; the mirror then equals the vendor."""
    url, sb = await sandbox(master_records=100)
    keys: list[object] = list(range(2_000_000, 2_010_000))
    await enqueue(db, keys)
    [result] = await push.push(exto_config(url, options=OPTIONS), db_url)
    assert (result.accepted, result.rejected) == (10_000, 0)
    assert sum(e.method == "POST" for e in sb.request_log) == 10
    gets = targets(sb)
    assert len(gets) == 10
    assert all(len(t) < 500 for t in gets)
    assert sb.count_status(414) == 0
    await assert_mirror_equals_vendor(db, sb, keys)


async def test_an_upsert_leaves_while_the_chunk_before_it_is_read_back(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Two chunks in flight, the first one's read-back included: with 200 ms per answer, an
    upsert and a read-back reach the vendor together (one chunk at a time would wait out each
    answer, 200 ms apart at least)."""
    url, sb = await sandbox(master_records=100, latency_ms=200)
    keys: list[object] = list(range(3_000_000, 3_003_000))
    await enqueue(db, keys)
    [result] = await push.push(exto_config(url, options=OPTIONS), db_url)
    assert result.accepted == 3_000
    log = sb.request_log
    assert [e.method for e in log].count("GET") == 3
    overlapping = [
        (g.at, p.at)
        for g in log
        if g.method == "GET"
        for p in log
        if p.method == "POST" and abs(p.at - g.at) < 0.15
    ]
    assert overlapping  # at least the first read-back beside the second upsert
    await assert_mirror_equals_vendor(db, sb, keys)


async def test_listed_keys_fill_8_kb_urls_and_never_pass_them(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Keys that are not integers are listed: each read-back as long as syncer's 8,000
    characters allow (below the sandbox's 8,192), none longer (no 414), and no more of them
    than those lengths need."""
    url, sb = await sandbox(master_records=100, **CODE_KNOBS)
    keys: list[object] = [f"LOC-{i:06d}" for i in range(3_000)]  # 10 characters + %7C each
    await enqueue(db, keys, "code")
    [result] = await push.push(exto_config(url, options=CODE), db_url)
    assert result.accepted == 3_000
    gets = targets(sb)
    assert all(len(t) <= 8000 for t in gets)
    assert max(len(t) for t in gets) > 8000 - 20  # filled, not a fixed small batch
    # 1,000 keys per upsert, about 600 per URL: two read-backs per upsert
    assert len(gets) == 6
    assert sb.count_status(414) == 0
    await assert_mirror_equals_vendor(db, sb, keys, "code")


async def test_a_414_halves_the_url_budget_for_the_rest_of_the_push(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A vendor whose URLs stop at 3,000 characters: the first read-back's 414s halve the
    budget (8,000, then about 4,000, then 2,000) and the keys not read yet are batched again; later
    read-backs fit at once, and nothing is lost."""
    url, sb = await sandbox(master_records=100, max_url_chars=3000, **CODE_KNOBS)
    keys: list[object] = [f"LOC-{i:06d}" for i in range(3_000)]
    await enqueue(db, keys, "code")
    [result] = await push.push(exto_config(url, options=CODE), db_url)
    assert (result.accepted, result.rejected) == (3_000, 0)
    statuses = [e.status for e in sb.request_log if e.method == "GET"]
    # the first chunk's read-back learns it (two chunks settle at once: the second's may pay too)
    assert 2 <= statuses.count(414) <= 4
    assert statuses[5:] == [200] * (len(statuses) - 5)
    assert all(len(t) <= 2000 for t in targets(sb)[5:])
    await assert_mirror_equals_vendor(db, sb, keys, "code")


async def test_a_range_reads_on_past_records_of_other_keys_and_keeps_only_its_own(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The vendor also holds 1,000 serial numbers between the pushed integers (x.5): the range
    matches 2,000 records, so its read-back takes a second page; only the pushed keys are
    accepted and mirrored."""
    url, sb = await sandbox(master_records=100, **CODE_KNOBS)
    between: list[object] = [1_000_000 + i + 0.5 for i in range(1_000)]
    await enqueue(db, between, "code")
    config = exto_config(url, options=CODE, push_read_back=False)
    [first] = await push.push(config, db_url)
    assert first.accepted == 1_000
    await db.execute("DELETE FROM syncer.outbox")
    sb.reset_log()
    keys: list[object] = list(range(1_000_000, 1_001_000))
    await enqueue(db, keys, "code")
    [result] = await push.push(exto_config(url, options=CODE), db_url)
    assert (result.accepted, result.rejected) == (1_000, 0)
    pages = [e.query.get("page") for e in sb.request_log if e.method == "GET"]
    assert pages == ["1", "2"]
    await assert_mirror_equals_vendor(db, sb, keys, "code")
    mirrored = await db.fetchval("SELECT count(*) FROM mirror.exto__master_location")
    assert mirrored == 1_000
