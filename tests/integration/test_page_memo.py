"""Pages remembered by their body (syncer.memo, issue 15): a full pass whose page is byte for
byte one decoded before merges it from the remembered keys and hashes, without decoding it;
the mirror still decides: a row that differs from it has the page decoded after all."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncer import engine, workers
from syncer.records import content_hash
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every body the run decoded (not recalled)."""
    bodies: list[int] = []
    real = workers.decode

    async def spy(vendor: str, stream: str, options: Any, body: bytes, *rest: Any) -> Any:
        bodies.append(len(body))
        return await real(vendor, stream, options, body, *rest)

    monkeypatch.setattr(workers, "decode", spy)
    return bodies


async def table_of(db: asyncpg.Connection) -> str:
    name: str = await db.fetchval("SELECT table_name FROM syncer.streams")
    return name


async def versions(db: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    rows = await db.fetch(f"SELECT _pk, xmin::text AS v FROM mirror.{table} ORDER BY _pk")
    return [(r["_pk"], r["v"]) for r in rows]


async def test_an_unchanged_re_sync_decodes_no_page_and_writes_no_row(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, decoded: list[int]
) -> None:
    url, _ = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    [first] = await engine.sync(config, db_url)
    assert first.status == "succeeded" and first.stats.inserted == 3_000
    assert len(decoded) == first.stats.pages + 1  # and the empty page that ends the pass
    pages = first.stats.pages  # each merged page is remembered
    assert await db.fetchval("SELECT count(*) FROM syncer.page_memo") == pages
    table = await table_of(db)
    before = await versions(db, table)

    decoded.clear()
    [again] = await engine.sync(config, db_url)
    assert again.status == "succeeded"
    assert len(decoded) == 1 and decoded[0] < 100  # the empty page only
    assert (again.stats.unchanged, again.stats.inserted, again.stats.updated) == (3_000, 0, 0)
    assert await versions(db, table) == before
    assert await db.fetchval("SELECT count(*) FROM syncer.page_memo") == pages


async def test_a_row_changed_in_the_mirror_has_its_page_decoded_and_put_right(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, decoded: list[int]
) -> None:
    url, sb = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    await engine.sync(config, db_url)
    table = await table_of(db)
    record = sb.records("master", "LOCATION")[1_500]
    await db.execute(
        f"UPDATE mirror.{table} SET _data = '{{\"edited\": true}}', _hash = '\\x00' WHERE _pk = $1",
        record["_id"],
    )
    before = dict(await versions(db, table))

    decoded.clear()
    [again] = await engine.sync(config, db_url)
    assert again.status == "succeeded"
    # the page holding the edited row, and the empty page that ends the pass
    assert sorted(decoded)[0] < 100 and len(decoded) == 2
    assert (again.stats.updated, again.stats.unchanged) == (1, 2_999)
    stored = await db.fetchval(f"SELECT _hash FROM mirror.{table} WHERE _pk = $1", record["_id"])
    assert bytes(stored) == content_hash(record)
    after = dict(await versions(db, table))
    assert [k for k in after if after[k] != before[k]] == [record["_id"]]


async def test_vendor_changes_are_decoded_and_the_memo_keeps_the_last_pass_only(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, decoded: list[int]
) -> None:
    url, sb = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    [first] = await engine.sync(config, db_url)
    pages = first.stats.pages
    sb.generation(change_pct=0.1, delete_pct=0, insert_pct=0)

    decoded.clear()
    [changed] = await engine.sync(config, db_url)
    assert changed.status == "succeeded" and changed.stats.updated > 0
    assert 1 < len(decoded) <= pages + 1
    # the pages before the change are forgotten: one pass's worth remains
    assert await db.fetchval("SELECT count(*) FROM syncer.page_memo") == pages

    decoded.clear()
    [same] = await engine.sync(config, db_url)
    assert len(decoded) == 1 and same.stats.unchanged == 3_000


async def test_an_emptied_mirror_is_loaded_again_from_decoded_pages(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, decoded: list[int]
) -> None:
    """A first load recalls nothing: nothing in an empty table equals a remembered page."""
    url, sb = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    await engine.sync(config, db_url)
    pages = len(decoded)
    table = await table_of(db)
    await db.execute(f"DELETE FROM mirror.{table}")

    decoded.clear()
    [again] = await engine.sync(config, db_url)
    assert again.status == "succeeded" and again.stats.inserted == 3_000
    assert len(decoded) == pages
    record = sb.records("master", "LOCATION")[7]
    stored = await db.fetchval(f"SELECT _hash FROM mirror.{table} WHERE _pk = $1", record["_id"])
    assert bytes(stored) == content_hash(record)


async def test_a_page_with_quarantined_records_is_never_remembered(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, decoded: list[int]
) -> None:
    """Its rejected records go to the quarantine again each pass: only decoding finds them."""
    url, _ = await sandbox(poison=True)
    config = exto_config(url, streams=["master:LOCATION"])
    [first] = await engine.sync(config, db_url)
    assert first.stats.quarantined > 0
    remembered = await db.fetchval("SELECT count(*) FROM syncer.page_memo")
    assert 0 < remembered < first.stats.pages
    poisoned = first.stats.pages - remembered

    decoded.clear()
    [again] = await engine.sync(config, db_url)
    assert again.stats.quarantined == first.stats.quarantined
    assert len(decoded) == poisoned + 1  # and the empty page
