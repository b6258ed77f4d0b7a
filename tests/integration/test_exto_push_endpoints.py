"""Exto's other write endpoints, pushed from the outbox to the sandbox over HTTP: PATCH, DELETE,
sub-table appends (not idempotent), workflow actions, user access and (de)activation."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncer import engine, errors, push
from syncer.sandbox.exto.state import ExtoSandbox
from tests import outbox
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

MODULE = "INSPECTION"


enqueue = outbox.enqueuer("exto")


async def outcomes(db: asyncpg.Connection) -> list[tuple[str, str | None, str | None]]:
    rows = await db.fetch("SELECT state, message, vendor_id FROM syncer.outbox ORDER BY id")
    return [(r["state"], r["message"], r["vendor_id"]) for r in rows]


def active_user(sb: ExtoSandbox, n: int = 0) -> str:
    names = [u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1]
    return str(names[n])


def config(url: str, sb: ExtoSandbox, **kw: Any) -> Any:
    options = {"unique:LOCATION": "serial_number", "user_name": active_user(sb)}
    return exto_config(url, options=options, **kw)


async def test_update_changes_only_the_given_fields_and_an_unknown_ref_is_rejected(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=50)
    targets = sb.records("master", "LOCATION")[:3]
    rows = [{"refId": r["refId"], "city": "Oslo"} for r in targets]
    await enqueue(db, "master:LOCATION", "update", [*rows, {"refId": "no-such-ref", "city": "X"}])
    [result] = await push.push(config(url, sb), db_url)
    assert (result.accepted, result.rejected) == (3, 1)
    states = await outcomes(db)
    assert [s for s, _, _ in states] == ["accepted"] * 3 + ["rejected"]
    assert "did not find" in (states[3][1] or "")
    assert [v for _, _, v in states[:3]] == [r["_id"] for r in targets]
    after = {r["refId"]: r for r in sb.records("master", "LOCATION")}
    for before in targets:
        now = after[before["refId"]]["customFields"]
        assert now["city"] == "Oslo"
        assert now["serial_number"] == before["customFields"]["serial_number"]
    mirrored = await db.fetch(
        "SELECT _data->>'refId' AS ref FROM mirror.exto__master_location "
        "WHERE _data->'customFields'->>'city' = 'Oslo'"
    )
    assert sorted(r["ref"] for r in mirrored) == sorted(r["refId"] for r in targets)


async def test_an_update_that_touches_id_is_invalid_and_never_sent(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=10)
    ref = sb.records("master", "LOCATION")[0]["refId"]
    await enqueue(db, "master:LOCATION", "update", [{"refId": ref, "_id": "x", "city": "Oslo"}])
    [result] = await push.push(config(url, sb), db_url)
    assert (result.invalid, result.requests) == (1, 0)
    assert "_id" in ((await outcomes(db))[0][1] or "")


async def test_delete_marks_the_mirror_and_a_missing_right_rejects_without_splitting(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=30, hard_delete=True)
    cfg = config(url, sb, streams=["master:LOCATION"])
    await engine.sync(cfg, db_url)
    doomed = [r["refId"] for r in sb.records("master", "LOCATION")[:4]]
    await enqueue(db, "master:LOCATION", "delete", [{"refId": ref} for ref in doomed])
    [result] = await push.push(cfg, db_url)
    assert result.accepted == 4
    assert not {r["refId"] for r in sb.records("master", "LOCATION")} & set(doomed)
    live = await db.fetchval(
        "SELECT count(*) FROM mirror.exto__master_location "
        "WHERE _deleted_at IS NULL AND _data->>'refId' = ANY($1::text[])",
        doomed,
    )
    assert live == 0
    # a user without the delete right: 200 {success: false}, one request, rows rejected
    sb.config.users_without_delete = (active_user(sb),)
    more = [{"refId": r["refId"]} for r in sb.records("master", "LOCATION")[:5]]
    await enqueue(db, "master:LOCATION", "delete", more)
    sb.reset_log()
    [refused] = await push.push(cfg, db_url)
    assert (refused.accepted, refused.rejected) == (0, 5)
    assert len([e for e in sb.request_log if e.method == "DELETE"]) == 1
    assert all("refused" in (m or "") for s, m, _ in (await outcomes(db))[4:])


async def test_a_module_delete_of_records_already_gone_is_accepted(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=20)
    await enqueue(db, f"module:{MODULE}", "delete", [{"refId": "gone-1"}, {"refId": "gone-2"}])
    [result] = await push.push(config(url, sb), db_url)
    assert (result.accepted, result.rejected) == (2, 0)
    assert sb.ledger == []


def parent(sb: ExtoSandbox) -> str:
    return str(sb.records("module", MODULE)[0]["_id"])


def sub_rows(record_id: str, n: int) -> list[dict[str, Any]]:
    return [{"recordId": record_id, "fields": {"line": i, "note": f"row {i}"}} for i in range(n)]


def appended(sb: ExtoSandbox) -> list[dict[str, Any]]:
    return [row for table in sb.data.subtables.values() for row in table.rows]


async def test_sub_table_rows_are_appended_once_with_their_ids(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=20)
    record_id = parent(sb)
    await enqueue(db, f"subtable:{MODULE}:T1", "append", sub_rows(record_id, 5))
    [result] = await push.push(config(url, sb), db_url)
    assert result.accepted == 5
    rows = appended(sb)
    assert [r["customFields"]["line"] for r in rows] == [0, 1, 2, 3, 4]
    assert [v for _, _, v in await outcomes(db)] == [r["_id"] for r in rows]
    [again] = await push.push(config(url, sb), db_url)
    assert again.requests == 0 and len(appended(sb)) == 5


async def test_an_append_that_timed_out_after_landing_is_not_sent_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """The sandbox applies the append and answers after the client gave up: the read-back finds
    the rows, and they are never appended twice."""
    url, sb = await sandbox(module_records=20)
    record_id = parent(sb)
    # two identical rows: content matching must count them, not collapse them
    rows = [*sub_rows(record_id, 3), sub_rows(record_id, 1)[0]]
    await enqueue(db, f"subtable:{MODULE}:T1", "append", rows)
    sb.config.write_delay_ms = 1_500
    [result] = await push.push(config(url, sb, timeout=0.5), db_url)
    sb.config.write_delay_ms = 0
    assert result.accepted == 4
    assert sorted(r["customFields"]["line"] for r in appended(sb)) == [0, 0, 1, 2]
    assert len([w for w in sb.ledger if w.operation == "subtable.append"]) == 2


async def test_an_append_left_in_doubt_by_a_failed_push_is_read_back_not_resent(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A 504 after the rows landed, with no attempts left: the push exits retryable and leaves
    the rows 'sending' with their evidence; the next push reads back and sends nothing."""
    url, sb = await sandbox(module_records=20)
    record_id = parent(sb)
    await enqueue(db, f"subtable:{MODULE}:T1", "append", sub_rows(record_id, 3))
    sb.config.write_fail_after_apply = 1
    [failed] = await push.push(config(url, sb, max_attempts=1), db_url)
    assert failed.exit_code == errors.ExitCode.TRANSIENT
    assert {s for s, _, _ in await outcomes(db)} == {"sending"}
    assert len(appended(sb)) == 3
    sb.reset_log()
    [result] = await push.push(config(url, sb), db_url)
    assert result.accepted == 3 and len(appended(sb)) == 3
    assert [e.method for e in sb.request_log] == ["GET"]


async def test_an_append_whose_parent_is_missing_is_rejected(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=20)
    await enqueue(db, f"subtable:{MODULE}:T1", "append", sub_rows("000000000000000000000000", 1))
    [result] = await push.push(config(url, sb), db_url)
    assert result.rejected == 1 and appended(sb) == []


async def test_workflow_actions_go_100_ids_per_request_and_the_mirror_follows(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=150)
    ids = [r["_id"] for r in sb.records("module", MODULE)]
    await enqueue(db, f"workflow:{MODULE}", "approve", [{"recordId": i} for i in ids])
    [result] = await push.push(config(url, sb), db_url)
    assert result.accepted == 150
    posts = [e for e in sb.request_log if e.method == "POST"]
    assert len(posts) == 2
    assert {r["customFields"]["status"] for r in sb.records("module", MODULE)} == {"Approved"}
    approved = await db.fetchval(
        "SELECT count(*) FROM mirror.exto__module_inspection "
        "WHERE _data->'customFields'->>'status' = 'Approved'"
    )
    assert approved == 150


async def test_an_unknown_workflow_action_is_invalid(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(module_records=5)
    await enqueue(db, f"workflow:{MODULE}", "escalate", [{"recordId": "x"}])
    [result] = await push.push(config(url, sb), db_url)
    assert result.invalid == 1
    assert "submit, reject or approve" in ((await outcomes(db))[0][1] or "")


async def test_grant_creates_a_user_and_the_users_mirror_has_it(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=10)
    project = sb.data.projects[0]["projectID"]
    new = "new.person@example.com"
    grant = {
        "user": {"userName": new, "email": new, "firstName": "New"},
        "projects": [{"projectId": project, "groups": [], "spaces": []}],
        "groups": [],
    }
    too_many = {"user": {"userName": "x@example.com", "email": "x@example.com"}}
    too_many["groups"] = [f"g{i}" for i in range(101)]
    await enqueue(db, "users", "grant", [grant, too_many])
    [result] = await push.push(config(url, sb), db_url)
    assert (result.accepted, result.invalid) == (1, 1)
    assert "at most 100" in ((await outcomes(db))[1][1] or "")
    names = {u["user"]["userName"] for u in sb.data.users}
    assert new in names and "x@example.com" not in names
    mirrored = await db.fetchval(
        "SELECT _data->'user'->>'firstName' FROM mirror.exto__users WHERE _pk = $1", new
    )
    assert mirrored == "New"


async def test_deactivate_takes_known_users_and_rejects_an_unknown_one(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=10)
    known = [active_user(sb, 1), active_user(sb, 2)]
    rows = [{"userName": known[0]}, {"userName": "nobody@example.com"}, {"userName": known[1]}]
    await enqueue(db, "users", "deactivate", rows)
    [result] = await push.push(config(url, sb), db_url)
    assert (result.accepted, result.rejected) == (2, 1)
    status = {u["user"]["userName"]: u["user"]["status"] for u in sb.data.users}
    assert [status[k] for k in known] == [0, 0]
    assert [s for s, _, _ in await outcomes(db)] == ["accepted", "rejected", "accepted"]


async def test_revoke_and_remove_projects_change_the_users_access(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=10)
    entry = next(u for u in sb.data.users if u["projects"])
    name = entry["user"]["userName"]
    project = entry["projects"][0]["projectID"]
    await enqueue(db, "users", "remove_projects", [{"username": name, "projectIds": [project]}])
    await enqueue(
        db, "users", "revoke", [{"username": "nobody@example.com", "projects": [project]}]
    )
    [result] = await push.push(config(url, sb), db_url)
    assert (result.accepted, result.rejected) == (1, 1)
    assert project not in {p["projectID"] for p in entry["projects"]}


async def test_plan_counts_outbox_creates_updates_deletes_and_invalid_rows(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=20)
    cfg = config(url, sb, streams=["master:LOCATION"])
    await engine.sync(cfg, db_url)
    known = [r["customFields"]["serial_number"] for r in sb.records("master", "LOCATION")[:2]]
    upserts = [{"serial_number": s, "city": "Oslo"} for s in known]
    upserts += [{"serial_number": 990_001, "city": "Oslo"}, {"city": "no key"}]
    await enqueue(db, "master:LOCATION", "upsert", upserts)
    await enqueue(db, "master:LOCATION", "delete", [{"refId": "a"}, {"refId": "b"}, {}])
    sb.reset_log()
    lines = {line["endpoint"]: line for line in await push.plan(cfg, db_url)}
    upsert = lines["master:LOCATION (upsert)"]
    assert (upsert["create"], upsert["update"], upsert["invalid"]) == (1, 2, 1)
    delete = lines["master:LOCATION (delete)"]
    assert (delete["delete"], delete["invalid"]) == (2, 1)
    assert sb.request_log == []
    assert {s for s, _, _ in await outcomes(db)} == {"pending"}


async def test_an_update_of_a_soft_deleted_record_is_rejected_not_read_back_as_landed(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A soft-deleted record stays listed, so a read-back finds its refId; but the PATCH did
    not reach it (updatedCount 0): the row is rejected, since the record does not hold it."""
    url, sb = await sandbox(master_records=20)
    cfg = config(url, sb)
    target = sb.records("master", "LOCATION")[0]
    await enqueue(db, "master:LOCATION", "delete", [{"refId": target["refId"]}])
    await enqueue(db, "master:LOCATION", "update", [{"refId": target["refId"], "city": "Oslo"}])
    [result] = await push.push(cfg, db_url)
    assert (result.accepted, result.rejected) == (1, 1)
    states = await outcomes(db)
    assert [s for s, _, _ in states] == ["accepted", "rejected"]
    assert "did not find" in (states[1][1] or "")
    [after] = [r for r in sb.records("master", "LOCATION") if r["refId"] == target["refId"]]
    assert after["isDeleted"] is True and after["customFields"]["city"] != "Oslo"
