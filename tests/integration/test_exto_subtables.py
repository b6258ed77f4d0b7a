"""Exto sub-tables against the sandbox over HTTP: one parent record's rows pulled as a stream
(`subtable:<MODULE>:<tableId>:<recordId>`), and rows deleted by recordNumber from the outbox."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import pytest

from syncer import engine, push
from syncer.sandbox.exto.state import ExtoSandbox
from tests import outbox
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

MODULE = "INSPECTION"


enqueue = outbox.enqueuer("exto")


def parents(sb: ExtoSandbox, n: int) -> list[str]:
    return [str(r["_id"]) for r in sb.records("module", MODULE)[:n]]


def rows_of(sb: ExtoSandbox, parent: str, table: str = "T1") -> list[dict[str, Any]]:
    found = sb.data.subtables.get((table, MODULE, parent))
    return list(found.rows) if found else []


async def appended(
    url: str, sb: ExtoSandbox, db: asyncpg.Connection, db_url: str, parent: str, n: int
) -> None:
    """n rows appended to `parent`'s T1 through the outbox."""
    rows = [{"recordId": parent, "fields": {"line": i, "note": f"row {i}"}} for i in range(n)]
    await enqueue(db, f"subtable:{MODULE}:T1", "append", rows)
    [result] = await push.push(exto_config(url), db_url)
    assert result.accepted == n


async def mirrored(db: asyncpg.Connection, table: str) -> dict[str, Any]:
    rows = await db.fetch(f"SELECT _pk, _data, _deleted_at FROM mirror.{table}")
    return {r["_pk"]: (orjson.loads(r["_data"]), r["_deleted_at"]) for r in rows}


async def test_a_parents_sub_table_is_mirrored_page_by_page(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=10)
    parent, other = parents(sb, 2)
    await appended(url, sb, db, db_url, parent, 25)
    await appended(url, sb, db, db_url, other, 3)
    stream = f"subtable:{MODULE}:T1:{parent}"
    sb.reset_log()
    [result] = await engine.sync(exto_config(url, streams=(stream,), page_size=10), db_url)
    assert result.status == "succeeded", result.error
    assert result.stats.pages == 3 and result.stats.inserted == 25
    asked = [e.query for e in sb.request_log if e.method == "GET"]
    assert {(q["moduleName"], q["recordId"]) for q in asked} == {(MODULE, parent)}
    table = await db.fetchval("SELECT table_name FROM syncer.streams WHERE stream = $1", stream)
    held = await mirrored(db, table)
    assert {r["_id"]: r for r in rows_of(sb, parent)} == {k: d for k, (d, _) in held.items()}
    lines = await db.fetch(f"SELECT line FROM mirror_view.{table} ORDER BY line")
    assert [r["line"] for r in lines] == list(range(25))


async def test_a_row_gone_from_the_sub_table_is_deleted_after_two_complete_passes(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The sub-table read has no filter to re-read a row by id: the two-pass rule."""
    url, sb = await sandbox(module_records=5)
    [parent] = parents(sb, 1)
    await appended(url, sb, db, db_url, parent, 4)
    stream = f"subtable:{MODULE}:T1:{parent}"
    config = exto_config(url, streams=(stream,))
    await engine.sync(config, db_url)
    gone = sb.data.subtables[("T1", MODULE, parent)].rows.pop(1)["_id"]
    [first] = await engine.sync(config, db_url)
    [second] = await engine.sync(config, db_url)
    assert (first.stats.deleted, second.stats.deleted) == (0, 1)
    table = await db.fetchval("SELECT table_name FROM syncer.streams WHERE stream = $1", stream)
    held = await mirrored(db, table)
    assert [k for k, (_, at) in held.items() if at is not None] == [gone]


async def test_deletes_by_record_number_leave_the_other_rows_and_the_mirror_follows(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """With the parent in the endpoint (the stream's name), the mirrored rows are marked deleted
    by the push itself; with it in the row, the rows go at the vendor."""
    url, sb = await sandbox(module_records=10)
    parent, other = parents(sb, 2)
    await appended(url, sb, db, db_url, parent, 5)
    await appended(url, sb, db, db_url, other, 2)
    stream = f"subtable:{MODULE}:T1:{parent}"
    config = exto_config(url, streams=(stream,))
    await engine.sync(config, db_url)
    numbers = [r["recordNumber"] for r in rows_of(sb, parent)]
    await enqueue(db, stream, "delete", [{"recordNumber": n} for n in numbers[:2]])
    other_number = rows_of(sb, other)[0]["recordNumber"]
    await enqueue(
        db,
        f"subtable:{MODULE}:T1",
        "delete",
        [{"recordId": other, "recordNumber": other_number}, {"recordNumber": "T1-1"}],
    )
    sb.reset_log()
    [result] = await push.push(config, db_url)
    assert (result.accepted, result.invalid) == (3, 1)
    assert [r["recordNumber"] for r in rows_of(sb, parent)] == numbers[2:]
    assert [r["recordNumber"] for r in rows_of(sb, other)] != [other_number]
    assert len(rows_of(sb, other)) == 1
    deletes = [e for e in sb.request_log if e.method == "DELETE"]
    assert len(deletes) == 2  # one request per parent
    table = await db.fetchval("SELECT table_name FROM syncer.streams WHERE stream = $1", stream)
    held = await mirrored(db, table)
    gone = sorted(d["recordNumber"] for d, at in held.values() if at is not None)
    assert gone == sorted(numbers[:2])
    message = await db.fetchval("SELECT message FROM syncer.outbox WHERE state = 'invalid'")
    assert "recordId" in message
    # nothing left to send; a second push sends nothing
    [again] = await push.push(config, db_url)
    assert again.requests == 0


async def test_a_delete_under_a_parent_that_is_gone_is_accepted(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Exto answers 404 `Record <id> not found.`: the parent, and so its rows, are gone."""
    url, sb = await sandbox(module_records=5)
    endpoint = f"subtable:{MODULE}:T1:000000000000000000000000"
    await enqueue(db, endpoint, "delete", [{"recordNumber": "T1-1"}])
    [result] = await push.push(exto_config(url), db_url)
    assert (result.accepted, result.rejected) == (1, 0)
    assert [w for w in sb.ledger if w.operation == "subtable.delete"] == []


async def test_a_delete_naming_another_parent_than_its_endpoint_is_invalid(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=5)
    parent, other = parents(sb, 2)
    endpoint = f"subtable:{MODULE}:T1:{parent}"
    await enqueue(db, endpoint, "delete", [{"recordId": other, "recordNumber": "T1-1"}])
    [result] = await push.push(exto_config(url), db_url)
    assert (result.invalid, result.requests) == (1, 0)
