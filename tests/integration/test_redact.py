"""Per-stream `exclude` and `hash` against the sandbox and real Postgres: excluded values never
stored, hashed ones stored as HMAC-SHA256 hex with the key from the environment, the record's
hash taken after both; a change of the lists recorded in syncer.schema_changes and applied to
the stored rows (and the stream's history table) before the run reads a page."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from syncer import engine, errors, push, records
from syncer.settings import Config
from tests import commands, outbox, sandboxes
from tests.configs import exto_file
from tests.conftest import TOKEN_ENV, SandboxFactory, exto_config, vendor_config
from tests.integration.analyst_role import as_analyst
from tests.integration.test_exto_users_lookup import _Skipping
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

KEY_ENV = "SYNCER_TEST_HASH_KEY"
KEY = "a-hash-key-only-these-tests-know"
MASTER = "master:LOCATION"
TABLE = "exto__master_location"


def digest(value: str | None) -> str | None:
    """What a hashed value is stored as (null stays null)."""
    if value is None:
        return None
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def config(url: str, **stream: Any) -> Config:
    own = {MASTER: stream} if stream else {}
    return exto_config(url, hash_key_env=KEY_ENV, per_stream=own)


async def stored(db: asyncpg.Connection) -> dict[str, tuple[dict[str, Any], bytes]]:
    rows = await db.fetch(f"SELECT _pk, _data::text AS d, _hash FROM mirror.{TABLE}")
    return {r["_pk"]: (orjson.loads(r["d"]), bytes(r["_hash"])) for r in rows}


async def changes(db: asyncpg.Connection) -> list[tuple[str, str, bool]]:
    rows = await db.fetch(
        "SELECT kind, path, run_id IS NOT NULL AS has_run FROM syncer.schema_changes "
        "WHERE kind IN ('excluded', 'included', 'hashed', 'unhashed') ORDER BY id"
    )
    return [(r["kind"], ".".join(r["path"]), r["has_run"]) for r in rows]


LISTS = {
    "exclude": ["customFields.address", "customFields.notes"],
    "hash": ["customFields.manager"],
}


async def test_excluded_never_stored_hashed_stored_keyed_and_the_hash_after_both(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandbox(master_records=200)
    results = await engine.sync(config(url, **LISTS), db_url)
    assert results[0].status == "succeeded", results[0].error
    source = {r["_id"]: r for r in sb.records("master", "LOCATION")}
    mirror = await stored(db)
    assert mirror.keys() == source.keys()
    for key, (data, digest_) in mirror.items():
        custom = data["customFields"]
        assert "address" not in custom and "notes" not in custom
        assert custom["manager"] == digest(source[key]["customFields"]["manager"])
        assert digest_ == records.content_hash(data)
    columns = {
        r["column_name"]
        for r in await db.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'mirror_view' AND table_name = $1",
            TABLE,
        )
    }
    assert "manager" in columns and not {"address", "notes"} & columns
    async with as_analyst(db_url, db):
        seen = await db.fetch(f"SELECT _pk, manager, _data FROM mirror_view.{TABLE}")
        assert len(seen) == 200
        for row in seen:
            assert row["manager"] == digest(source[row["_pk"]]["customFields"]["manager"])
            assert '"address"' not in row["_data"]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.fetch("SELECT * FROM syncer.stream_redaction")
    assert await changes(db) == [
        ("excluded", "customFields.address", True),
        ("excluded", "customFields.notes", True),
        ("hashed", "customFields.manager", True),
    ]
    again = await engine.sync(config(url, **LISTS), db_url)
    assert (again[0].stats.inserted, again[0].stats.updated) == (0, 0)
    assert len(await changes(db)) == 3  # the same lists: no change recorded
    # the key reaches no log line and no table
    assert KEY not in capsys.readouterr().out
    dump = await db.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT r::text AS t FROM syncer.runs r "
        "UNION ALL SELECT c::text FROM syncer.schema_changes c "
        "UNION ALL SELECT q::text FROM syncer.quarantine q) x"
    )
    assert KEY not in (dump or "")


async def test_a_change_of_the_lists_rewrites_stored_rows_and_history_at_once(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandbox(master_records=200)
    await engine.sync(config(url), db_url)
    # a history table as the history part keeps one: every version's _data and _hash
    await db.execute(
        f"CREATE TABLE mirror_history.{TABLE} AS SELECT _pk, _data, _hash FROM mirror.{TABLE}"
    )
    results = await engine.sync(config(url, **LISTS), db_url)
    # the rows were brought in line before the pass: re-reading them changed nothing
    assert results[0].status == "succeeded", results[0].error
    assert (results[0].stats.updated, results[0].stats.unchanged) == (0, 200)
    source = {r["_id"]: r for r in sb.records("master", "LOCATION")}
    for key, (data, _) in (await stored(db)).items():
        assert "address" not in data["customFields"]
        assert data["customFields"]["manager"] == digest(source[key]["customFields"]["manager"])
    history = await db.fetch(
        f"SELECT _data -> 'customFields' ->> 'manager' AS m, _data -> 'customFields' ? 'address' "
        f"AS a, _hash, _data::text AS d FROM mirror_history.{TABLE}"
    )
    assert len(history) == 200
    assert all((r["m"] is None or len(r["m"]) == 64) and not r["a"] for r in history)
    assert sum(r["m"] is not None for r in history) > 100
    assert all(bytes(r["_hash"]) == records.content_hash(orjson.loads(r["d"])) for r in history)
    # off the lists: recorded, and the next full pass brings the plain values back
    back = await engine.sync(config(url), db_url)
    assert back[0].stats.updated == 200
    assert [c[:2] for c in await changes(db)][3:] == [
        ("included", "customFields.address"),
        ("included", "customFields.notes"),
        ("unhashed", "customFields.manager"),
    ]
    for key, (data, _) in (await stored(db)).items():
        assert data["customFields"]["manager"] == source[key]["customFields"]["manager"]
        assert data["customFields"]["address"] == source[key]["customFields"]["address"]


async def test_an_unset_hash_key_stops_the_run_before_any_request(
    sandbox: SandboxFactory,
    db_url: str,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    url, sb = await sandbox(master_records=50)
    with pytest.raises(errors.ConfigError, match=KEY_ENV) as caught:
        await engine.sync(config(url, hash=["customFields.manager"]), db_url)
    assert caught.value.exit_code == 6
    assert sb.request_log == []


async def test_the_same_value_hashes_alike_in_every_stream_and_connection(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exto users' emails and the master records' managers (the same people), hashed in two
    streams with one key, still join."""
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandbox(master_records=200)
    cfg = exto_config(
        url,
        streams=(MASTER, "users"),
        hash_key_env=KEY_ENV,
        per_stream={MASTER: {"hash": ["customFields.manager"]}, "users": {"hash": ["user.email"]}},
    )
    results = await engine.sync(cfg, db_url)
    assert [r.status for r in results] == ["succeeded"] * 2
    joined = await db.fetchval(
        f"SELECT count(*) FROM mirror_view.{TABLE} m JOIN mirror_view.exto__users u "
        "ON u.email = m.manager"
    )
    emails = {u["user"]["email"] for u in sb.records("users")}
    expected = sum(r["customFields"]["manager"] in emails for r in sb.records("master", "LOCATION"))
    assert joined == expected > 0


async def test_records_a_push_reads_back_are_redacted_too(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mirror follows a push with the records it reads back: the same lists apply."""
    monkeypatch.setenv(KEY_ENV, KEY)
    url, _ = await sandbox(master_records=20)
    cfg = exto_config(
        url,
        options={"unique:LOCATION": "serial_number"},
        hash_key_env=KEY_ENV,
        per_stream={MASTER: {"exclude": ["customFields.city"], "hash": ["customFields.name"]}},
    )
    await engine.sync(cfg, db_url)
    rows = [{"serial_number": 900_000 + i, "name": f"Pushed {i}", "city": "Lyon"} for i in range(3)]
    await outbox.enqueue(db, "exto", MASTER, "upsert", rows)
    [result] = await push.push(cfg, db_url)
    assert result.accepted == 3
    followed = await db.fetch(
        f"SELECT _data -> 'customFields' AS c, _hash, _data::text AS d FROM mirror.{TABLE} "
        "WHERE (_data -> 'customFields' ->> 'serial_number')::int >= 900000"
    )
    assert len(followed) == 3
    for row in followed:
        custom = orjson.loads(row["c"])
        assert "city" not in custom
        assert custom["name"] in {digest(f"Pushed {i}") for i in range(3)}
        assert bytes(row["_hash"]) == records.content_hash(orjson.loads(row["d"]))


async def test_the_command_exits_6_naming_the_variable_and_never_shows_the_key(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, sb = await sandbox(master_records=30)
    path = exto_file(
        tmp_path,
        url,
        hash_key_env=KEY_ENV,
        extra=f'[connections.per_stream."{MASTER}"]\nhash = ["customFields.manager"]\n',
    )
    environ = {k: v for k, v in commands.env(db_url).items() if k != KEY_ENV}
    code, out, err = await commands.syncer("sync", "--config", str(path), environ=environ)
    assert code == 6 and KEY_ENV in out + err, (out, err)
    assert sb.request_log == []
    code, out, err = await commands.syncer(
        "sync", "--config", str(path), environ={**environ, KEY_ENV: KEY}
    )
    assert code == 0, (out, err)
    assert KEY not in out + err
    assert await db.fetchval(f"SELECT count(*) FROM mirror.{TABLE}") == 30


async def test_actito_attributes_are_excluded_and_hashed_by_name(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandboxes.ACTITO_KEY)
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandboxes.actito(serve, profiles=150, custom_records=10)
    lists = {"hash": ["attributes[emailAddress]"], "exclude": ["attributes[gsmNumber]"]}
    cfg = vendor_config(
        "actito",
        url,
        ("profiles:customers",),
        options={"entity": "sandbox"},
        hash_key_env=KEY_ENV,
        per_stream={"profiles:customers": lists},
    )
    results = await engine.sync(cfg, db_url)
    assert results[0].status == "succeeded", results[0].error
    emails = {
        str(p["profileId"]): next(
            a["value"] for a in p["attributes"] if a["name"] == "emailAddress"
        )
        for p in sb.records("profiles")
    }
    async with as_analyst(db_url, db):
        rows = await db.fetch(
            "SELECT _pk, email_address, _data::text AS d "
            "FROM mirror_view.actito__profiles_customers"
        )
        assert len(rows) == 150
        for row in rows:
            assert row["email_address"] == digest(emails[row["_pk"]])
            assert "gsmNumber" not in row["d"] and emails[row["_pk"]] not in row["d"]
    # the change names the field as the typed view does, so it lines up with its column
    paths = await db.fetch(
        "SELECT c.kind, c.path, EXISTS (SELECT 1 FROM syncer.stream_fields f "
        "WHERE f.stream_id = c.stream_id AND f.path = c.path) AS known "
        "FROM syncer.schema_changes c WHERE c.kind <> 'new_field' ORDER BY c.id"
    )
    assert [(r["kind"], list(r["path"]), r["known"]) for r in paths] == [
        ("excluded", ["attributes[name].value", "gsmNumber"], False),
        ("hashed", ["attributes[name].value", "emailAddress"], True),
    ]


async def test_records_a_delete_check_finds_by_name_are_redacted_too(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user the list skipped is looked up by name before its delete: the record that lookup
    finds reaches the mirror through the same lists."""
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandbox(users=30)
    lists = {"hash": ["user.email"], "exclude": ["user.employeeId"]}
    cfg = exto_config(url, streams=("users",), hash_key_env=KEY_ENV, per_stream={"users": lists})
    await engine.sync(cfg, db_url)
    hidden = sb.data.users[5]
    hidden["user"] = {**hidden["user"], "email": "changed@example.com", "employeeId": "E-1"}
    name = hidden["user"]["userName"]
    sb.data.users = _Skipping(sb.data.users, name)
    [result] = await engine.sync(cfg, db_url)
    assert result.stats.deleted == 0 and result.stats.updated == 1
    data = orjson.loads(
        await db.fetchval("SELECT _data::text FROM mirror.exto__users WHERE _pk = $1", name.lower())
    )
    assert data["user"]["email"] == digest("changed@example.com")
    assert "employeeId" not in data["user"]


async def test_a_new_hash_key_is_recorded_and_the_next_full_pass_rehashes(
    sandbox: SandboxFactory,
    db_url: str,
    db: asyncpg.Connection,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    url, sb = await sandbox(master_records=40)
    cfg = config(url, hash=["customFields.manager"])
    await engine.sync(cfg, db_url)
    stored_check = await db.fetchval("SELECT key_check FROM syncer.stream_redaction")
    assert stored_check and KEY not in stored_check
    monkeypatch.setenv(KEY_ENV, "another-key")
    [result] = await engine.sync(cfg, db_url)
    rows = await db.fetch(
        "SELECT kind, detail FROM syncer.schema_changes WHERE kind = 'hashed' ORDER BY id"
    )
    assert [r["kind"] for r in rows] == ["hashed", "hashed"]
    assert "new key" in rows[1]["detail"]
    managed = sum(
        r["customFields"]["manager"] is not None for r in sb.records("master", "LOCATION")
    )
    assert result.stats.updated == managed > 0  # the full pass stored the new hashes
    [again] = await engine.sync(cfg, db_url)
    assert again.stats.updated == 0
    assert (
        await db.fetchval("SELECT count(*) FROM syncer.schema_changes WHERE kind <> 'new_field'")
        == 2
    )
