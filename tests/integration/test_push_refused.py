"""A vendor error about a push request as a whole (an unknown master, module, table or model, a
path that does not exist, a refused credential) is a configuration error: one request, never
bisected, never "already deleted", no mirror stream registered, exit 6 naming the endpoint, the
rows still outstanding. Each vendor's sandbox over HTTP, real Postgres."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncer import errors, push
from syncer.sandbox.actito import ACTITO_KEY, ActitoConfig
from syncer.sandbox.actito import create_app as actito_app
from syncer.sandbox.exto.state import ExtoSandbox
from syncer.sandbox.ioto import IotoConfig
from syncer.sandbox.ioto import create_app as ioto_app
from syncer.sandbox.xtrakit import XtraKitConfig
from syncer.sandbox.xtrakit import create_app as xtrakit_app
from tests import outbox
from tests.conftest import TOKEN_ENV, SandboxFactory, exto_config, vendor_config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

CONFIG_ERROR = errors.ExitCode.AUTH_OR_CONFIG


enqueue = outbox.enqueue


async def outstanding(db: asyncpg.Connection, endpoint: str) -> list[str]:
    rows = await db.fetch(
        "SELECT state, message FROM syncer.outbox WHERE endpoint = $1 ORDER BY id", endpoint
    )
    assert all((r["message"] or "").startswith("not sent: ") for r in rows), rows[0]["message"]
    return sorted({r["state"] for r in rows})


async def streams(db: asyncpg.Connection) -> list[str]:
    return [r["stream"] for r in await db.fetch("SELECT stream FROM syncer.streams")]


def exto(sb: ExtoSandbox, url: str, **options: str) -> Any:
    user = next(u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1)
    return exto_config(url, options={"user_name": user, **options})


async def test_64_upserts_to_an_unknown_master_cost_one_request_and_exit_6(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Today's bisection would take 127 requests and reject the rows one by one. The known
    master's rows in the same push are sent all the same."""
    url, sb = await sandbox(master_records=20)
    cfg = exto(sb, url, **{"unique:NOPE": "serial_number", "unique:LOCATION": "serial_number"})
    rows = [{"serial_number": 7_000 + i, "city": "Lyon"} for i in range(64)]
    await enqueue(db, "exto", "master:NOPE", "upsert", rows)
    await enqueue(db, "exto", "master:LOCATION", "upsert", rows[:3])
    sb.reset_log()
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR
    assert result.error is not None and "'master:NOPE'" in result.error
    assert "Exto has no master NOPE" in result.error
    assert len([e for e in sb.request_log if e.path.endswith("/master-record/NOPE")]) == 1
    assert await outstanding(db, "master:NOPE") == ["pending"]
    assert await streams(db) == ["master:LOCATION"]
    assert (result.accepted, result.rejected) == (3, 0)
    # the rows wait for the configuration: the next push tries once more, and only once
    sb.reset_log()
    [again] = await push.push(cfg, db_url)
    assert again.exit_code == CONFIG_ERROR and again.requests == 1


async def test_a_module_delete_to_an_unknown_module_is_not_already_deleted(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """A module delete matching nothing answers 404 "No matching record." (nothing left to do);
    a module that does not exist answers 404 "<NAME> not Found.": not the same thing."""
    url, sb = await sandbox(module_records=10)
    cfg = exto(sb, url)
    await enqueue(db, "exto", "module:NOPE", "delete", [{"refId": f"r{i}"} for i in range(64)])
    await enqueue(db, "exto", "module:INSPECTION", "delete", [{"refId": "gone"}])
    sb.reset_log()
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "'module:NOPE'" in (result.error or "")
    assert len([e for e in sb.request_log if e.path.endswith("/module-record/NOPE")]) == 1
    assert await outstanding(db, "module:NOPE") == ["pending"]
    gone = await db.fetchval("SELECT state FROM syncer.outbox WHERE endpoint = 'module:INSPECTION'")
    assert gone == "accepted"


async def test_a_wrong_base_url_is_one_request_and_exit_6(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=10)
    cfg = exto(sb, url + "/v9", **{"unique:LOCATION": "serial_number"})
    rows = [{"serial_number": 8_000 + i} for i in range(64)]
    await enqueue(db, "exto", "master:LOCATION", "upsert", rows)
    sb.reset_log()
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "base_url" in (result.error or "")
    assert len(sb.request_log) == 1
    assert await outstanding(db, "master:LOCATION") == ["pending"]
    assert await streams(db) == []


async def test_a_refused_credential_exits_6_and_registers_no_stream(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=10)
    sb.config.revoked_tokens = tuple(sb.config.tokens)
    cfg = exto(sb, url, **{"unique:LOCATION": "serial_number"})
    await enqueue(db, "exto", "master:LOCATION", "upsert", [{"serial_number": 1}] * 64)
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "refused the credential" in (result.error or "")
    assert result.requests == 1 and await streams(db) == []
    states = await db.fetch("SELECT DISTINCT state FROM syncer.outbox")
    assert [r["state"] for r in states] == ["sending"]  # outstanding: the next push sends them


async def test_actito_upserts_to_an_unknown_table_cost_one_request_and_exit_6(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Actito takes one profile per call, four in flight: the first request to an endpoint
    goes alone, so an unknown table costs one request, not four (nor 64)."""
    monkeypatch.setenv(TOKEN_ENV, "sandbox-actito-key")
    app = actito_app(ActitoConfig(profiles=20, custom_records=10))
    url = f"http://127.0.0.1:{await serve(app)}"
    sb = app[ACTITO_KEY]
    options = {"entity": "sandbox", "unique:nope": "emailAddress"}
    cfg = vendor_config("actito", url, ("profiles:customers",), options=options)
    rows = [{"emailAddress": f"n{i}@example.com", "lastName": "X"} for i in range(64)]
    await enqueue(db, "actito", "profiles:nope", "upsert", rows)
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "'profiles:nope'" in (result.error or "")
    assert result.requests == 1
    assert len([e for e in sb.request_log if "/table/nope/" in e.path]) == 1
    assert await outstanding(db, "profiles:nope") == ["pending"]
    assert await streams(db) == []


async def test_ioto_upserts_of_an_unknown_model_cost_one_request_and_exit_6(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "sandbox-ioto-token")
    app = ioto_app(IotoConfig(devices=5, store_items=10, logs=5))
    url = f"http://127.0.0.1:{await serve(app)}"
    options = {"account_id": "01SANDBOXACCOUNT000000000"}
    cfg = vendor_config("ioto", url, ("store",), options=options)
    await enqueue(db, "ioto", "generic:Nope", "upsert", [{"id": f"n{i}"} for i in range(64)])
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "'generic:Nope'" in (result.error or "")
    assert "Unknown model" in (result.error or "")
    assert result.requests == 1
    assert await outstanding(db, "generic:Nope") == ["pending"]
    assert await streams(db) == []


async def test_xtrakit_adds_to_a_path_that_does_not_exist_cost_one_request_and_exit_6(
    serve: Serve, db_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XtraKit's endpoints are fixed, so a 404 on an add means the base URL is wrong; a 404 on
    a record's own path (a delete of a gone id) stays "already gone"."""
    monkeypatch.setenv(TOKEN_ENV, "sandbox-xtrakit-key")
    sizes = {"customers": 20, "items": 10, "categories": 5, "sales": 5}
    app = xtrakit_app(XtraKitConfig(**{**sizes, "rate_limit": 0}))
    url = f"http://127.0.0.1:{await serve(app)}/api/v9"
    cfg = vendor_config("xtrakit", url, ("customers",))
    rows = [{"customer_phone": f"+2332000{i:05d}", "customer_name": "N"} for i in range(64)]
    await enqueue(db, "xtrakit", "customers", "upsert", rows)
    [result] = await push.push(cfg, db_url)
    assert result.exit_code == CONFIG_ERROR and "'customers'" in (result.error or "")
    assert result.requests == 1
    assert await outstanding(db, "customers") == ["pending"]
    assert await streams(db) == []
    good = vendor_config("xtrakit", url.replace("/api/v9", "/api/v1"), ("customers",))
    await db.execute("DELETE FROM syncer.outbox")
    await enqueue(db, "xtrakit", "customers", "delete", [{"id": 999_999}])
    [gone] = await push.push(good, db_url)
    assert (gone.accepted, gone.exit_code) == (1, 0)
