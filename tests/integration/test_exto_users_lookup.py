"""Exto users looked up by username (`GET /user/user-access/by-user`) against the sandbox over
HTTP: the read-back after a users push, and the confirmation of a user's delete in one pass."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncer import engine, push
from syncer.sandbox.exto.state import ExtoSandbox
from tests import outbox
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

BY_USER = "/data/api/v1/user/user-access/by-user"
LIST = "/data/api/v1/user/user-access"


async def enqueue(db: asyncpg.Connection, operation: str, rows: list[dict[str, Any]]) -> None:
    await outbox.enqueue(db, "exto", "users", operation, rows)


def active(sb: ExtoSandbox) -> list[str]:
    return [u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1]


def gets(sb: ExtoSandbox, path: str) -> list[dict[str, str]]:
    return [e.query for e in sb.request_log if e.method == "GET" and e.path == path]


async def test_a_users_push_reads_back_each_user_by_name_not_the_whole_list(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=40)
    known = active(sb)[:2]
    rows = [{"userName": known[0]}, {"userName": "nobody@example.com"}, {"userName": known[1]}]
    await enqueue(db, "deactivate", rows)
    [result] = await push.push(exto_config(url, streams=("users",)), db_url)
    assert (result.accepted, result.rejected) == (2, 1)
    assert gets(sb, LIST) == []
    asked = sorted(q["username"] for q in gets(sb, BY_USER))
    # the halves that did not add up were read back, then the accepted users for the mirror
    assert set(asked) == {*known, "nobody@example.com"}
    mirrored = await db.fetch(
        "SELECT _pk, _data->'user'->>'status' AS status FROM mirror.exto__users"
    )
    assert sorted((r["_pk"], r["status"]) for r in mirrored) == sorted((k, "0") for k in known)


async def test_a_grant_puts_the_user_in_the_mirror_from_one_lookup(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=40)
    new = "Grace.Hopper@example.com"
    grant = {"user": {"userName": new, "email": new, "firstName": "Grace"}, "groups": []}
    await enqueue(db, "grant", [grant])
    [result] = await push.push(exto_config(url, streams=("users",)), db_url)
    assert result.accepted == 1
    assert [q["username"] for q in gets(sb, BY_USER)] == [new.lower()]
    assert gets(sb, LIST) == []
    first = await db.fetchval(
        "SELECT _data->'user'->>'firstName' FROM mirror.exto__users WHERE _pk = $1", new.lower()
    )
    assert first == "Grace"


async def test_a_user_gone_from_exto_is_deleted_after_one_pass(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=30)
    config = exto_config(url, streams=("users",))
    await engine.sync(config, db_url)
    gone = sb.data.users.pop(3)["user"]["userName"]
    sb.reset_log()
    [result] = await engine.sync(config, db_url)
    assert result.status == "succeeded" and result.stats.deleted == 1
    assert [q["username"] for q in gets(sb, BY_USER)] == [gone]
    deleted = await db.fetch("SELECT _pk FROM mirror.exto__users WHERE _deleted_at IS NOT NULL")
    assert [r["_pk"] for r in deleted] == [gone]


class _Skipping(list[dict[str, Any]]):
    """The sandbox's users, with one left out of the list and its total (the list's evidence
    agrees, as after an offset shift on a busy tenant), while a lookup by name still finds it."""

    def __init__(self, users: list[dict[str, Any]], hidden: str) -> None:
        super().__init__(users)
        self.hidden = hidden

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [u for u in super().__getitem__(index) if u["user"]["userName"] != self.hidden]
        return super().__getitem__(index)

    def __len__(self) -> int:
        return super().__len__() - 1


async def test_a_user_the_list_skipped_is_found_by_name_and_kept(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(users=30)
    config = exto_config(url, streams=("users",))
    await engine.sync(config, db_url)
    hidden = sb.data.users[5]["user"]["userName"]
    sb.data.users = _Skipping(sb.data.users, hidden)
    sb.reset_log()
    [result] = await engine.sync(config, db_url)
    assert result.stats.deleted == 0
    assert [q["username"] for q in gets(sb, BY_USER)] == [hidden]
    live = await db.fetchval("SELECT count(*) FROM mirror.exto__users WHERE _deleted_at IS NULL")
    assert live == 30
    # two passes without it change nothing: the lookup keeps finding it
    [again] = await engine.sync(config, db_url)
    assert again.stats.deleted == 0
