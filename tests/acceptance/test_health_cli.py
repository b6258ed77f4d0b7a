"""`syncer health` and `syncer status --json` end to end: a subprocess against the sandbox, a
real Postgres and a local receiver of notifications."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.commands import env, syncer
from tests.configs import exto_file
from tests.conftest import TOKEN, SandboxFactory
from tests.sandboxes import Serve

pytestmark = pytest.mark.acceptance

BAD_TOKEN = "not-the-token-7f3e"
#: the path of the webhook: a credential, as in most webhook services
HOOK_PATH = "/hook/s3cr3t-path-91c2"


def config(
    tmp_path: Path,
    base_url: str,
    *,
    streams: str = '["master:LOCATION"]',
    extra: str = "",
    name: str = "syncer.toml",
) -> Path:
    """The test's config file; `streams` as TOML, `extra` TOML lines after the connection."""
    return exto_file(tmp_path, base_url, name=name, streams=tuple(json.loads(streams)), extra=extra)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]  # nothing listens here once the socket closes
    return port


def unhealthy_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("exto/")]


async def test_healthy_after_a_successful_sync_exits_0_and_quiet_prints_nothing(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    path = config(tmp_path, url, extra='max_staleness = "1h"')
    code, _, err = await syncer("sync", "--config", str(path), environ=env(db_url))
    assert code == 0, err
    code, out, err = await syncer("health", "--config", str(path), environ=env(db_url))
    assert code == 0, out + err
    assert "exto/master:LOCATION" in out and "all 1 streams healthy" in out
    assert unhealthy_lines(out) == []
    code, out, err = await syncer("health", "-c", str(path), "--quiet", environ=env(db_url))
    assert (code, out, err) == (0, "", "")  # cron mails nothing


async def test_status_json_is_one_document_of_the_runs_with_iso_times(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    path = config(tmp_path, url)
    for _ in range(2):
        code, _, err = await syncer("sync", "--config", str(path), environ=env(db_url))
        assert code == 0, err
    code, out, _ = await syncer("status", "--json", "--limit", "5", environ=env(db_url))
    assert code == 0
    runs = json.loads(out)
    assert [(r["run_id"], r["status"], r["inserted"]) for r in runs] == [
        (2, "succeeded", 0),
        (1, "succeeded", 300),
    ]
    assert runs[0]["stream"] == "master:LOCATION" and runs[0]["warnings"] == []
    started = datetime.fromisoformat(runs[0]["started_at"])
    assert started.tzinfo is not None
    assert datetime.fromisoformat(runs[0]["finished_at"]) >= started


async def test_a_failed_last_run_exits_7_naming_the_stream_and_why(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    path = config(tmp_path, url, extra='max_staleness = "1h"')
    code, _, err = await syncer("sync", "--config", str(path), environ=env(db_url))
    assert code == 0, err
    code, _, _ = await syncer("sync", "--config", str(path), environ=env(db_url, BAD_TOKEN))
    assert code == 6
    code, out, err = await syncer("health", "--config", str(path), environ=env(db_url, BAD_TOKEN))
    assert code == 7, out + err
    [line] = unhealthy_lines(out)
    assert line.startswith("exto/master:LOCATION: failed: run 2 failed at ")
    assert "refused the credential" in line and "last success" in line and "(run 1," in line
    assert "1 of 1 streams unhealthy" in out
    assert BAD_TOKEN not in out + err


async def test_a_stream_staler_than_its_max_staleness_exits_7_stale(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    hour = config(tmp_path, url, extra='max_staleness = "1h"')
    code, _, err = await syncer("sync", "--config", str(hour), environ=env(db_url))
    assert code == 0, err
    # the stream's own max_staleness wins over its connection's
    second = config(
        tmp_path,
        url,
        extra='max_staleness = "1h"\n[connections.per_stream."master:LOCATION"]\n'
        'max_staleness = "1s"',
        name="strict.toml",
    )
    await asyncio.sleep(1.5)
    code, out, err = await syncer("health", "--config", str(hour), environ=env(db_url))
    assert code == 0, out + err
    code, out, err = await syncer("health", "--config", str(second), environ=env(db_url))
    assert code == 7, out + err
    [line] = unhealthy_lines(out)
    assert line.startswith("exto/master:LOCATION: stale: last success ")
    assert line.endswith("(max_staleness 1s)")
    code, out, _ = await syncer("health", "-c", str(second), "--json", environ=env(db_url))
    assert code == 7
    report = json.loads(out)
    [stream] = report["streams"]
    assert report["healthy"] is False and stream["problem"] == "stale"
    assert stream["max_staleness_s"] == 1.0 and stream["staleness_s"] > 1.0


async def test_a_configured_stream_never_run_exits_7_never_succeeded(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    path = config(tmp_path, url, streams='["master:LOCATION", "users"]')
    code, _, err = await syncer(
        "sync", "--config", str(path), "--stream", "master:LOCATION", environ=env(db_url)
    )
    assert code == 0, err
    code, out, err = await syncer("health", "--config", str(path), environ=env(db_url))
    assert code == 7, out + err
    assert unhealthy_lines(out) == [
        "exto/users: never_succeeded: no run has finished without failing"
    ]
    code, out, _ = await syncer("health", "-c", str(path), "--json", environ=env(db_url))
    assert code == 7
    report = json.loads(out)
    assert report["healthy"] is False and report["notifications"] == []
    assert [(s["stream"], s["healthy"], s["problem"]) for s in report["streams"]] == [
        ("master:LOCATION", True, None),
        ("users", False, "never_succeeded"),
    ]
    assert datetime.fromisoformat(report["checked_at"]).tzinfo is not None


def receiver(bodies: list[dict[str, Any]], status: int = 204) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        bodies.append({"raw": raw.decode(), "type": request.content_type, "json": json.loads(raw)})
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post(HOOK_PATH, hook)
    return app


async def test_notify_url_receives_one_json_body_per_unhealthy_stream_and_no_secret(
    sandbox: SandboxFactory, serve: Serve, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url, _ = await sandbox(master_records=300)
    bodies: list[dict[str, Any]] = []
    port = await serve(receiver(bodies))
    path = config(
        tmp_path,
        url,
        streams='["master:LOCATION", "users"]',
        extra=f'max_staleness = "26h"\nnotify_url = "http://127.0.0.1:{port}{HOOK_PATH}"',
    )
    sync = ("sync", "--config", str(path), "--stream", "master:LOCATION")
    assert (await syncer(*sync, environ=env(db_url)))[0] == 0
    assert (await syncer(*sync, environ=env(db_url, BAD_TOKEN)))[0] == 6
    code, out, _ = await syncer("health", "-c", str(path), "--no-notify", environ=env(db_url))
    assert code == 7 and bodies == []
    code, out, err = await syncer("health", "--config", str(path), environ=env(db_url))
    assert code == 7, out + err
    assert len(bodies) == 2 and {b["type"] for b in bodies} == {"application/json"}
    received = sorted((b["json"] for b in bodies), key=lambda b: b["stream"])
    checked_at = received[0]["checked_at"]
    success_at = await db.fetchval("SELECT finished_at FROM syncer.runs WHERE run_id = 1")
    assert received == [
        {
            "connection": "exto",
            "stream": "master:LOCATION",
            "problem": "failed",
            "detail": received[0]["detail"],
            "last_run_id": 2,
            "last_success_at": success_at.isoformat(),
            "max_staleness_s": 26 * 3600.0,
            "checked_at": checked_at,
        },
        {
            "connection": "exto",
            "stream": "users",
            "problem": "never_succeeded",
            "detail": "no run has finished without failing",
            "last_run_id": None,
            "last_success_at": None,
            "max_staleness_s": 26 * 3600.0,
            "checked_at": checked_at,
        },
    ]
    assert received[0]["detail"].startswith("run 2 failed at ")
    assert "refused the credential" in received[0]["detail"]
    assert received[1]["checked_at"] == checked_at and datetime.fromisoformat(checked_at)
    for body in bodies:
        assert TOKEN not in body["raw"] and BAD_TOKEN not in body["raw"]
        assert "postgresql://" not in body["raw"] and db_url.rsplit("/", 1)[1] not in body["raw"]
    assert f"notified http://127.0.0.1:{port} of exto/users" in out
    assert HOOK_PATH not in out + err and err == ""


async def test_a_refused_notification_is_reported_and_health_still_exits_7(
    db_url: str, tmp_path: Path
) -> None:
    port = closed_port()
    path = config(
        tmp_path,
        "https://vendor.example.com/data",
        streams='["users"]',
        extra=f'notify_url = "http://127.0.0.1:{port}{HOOK_PATH}"',
    )
    code, out, err = await syncer("health", "--config", str(path), environ=env(db_url))
    assert code == 7
    assert unhealthy_lines(out) == [
        "exto/users: never_succeeded: no run has finished without failing"
    ]
    assert f"notification of exto/users to http://127.0.0.1:{port} failed: " in err
    assert "ClientConnectorError" in err
    assert HOOK_PATH.split("/")[-1] not in out + err
    code, out, err = await syncer("health", "-c", str(path), "--json", environ=env(db_url))
    assert code == 7
    [delivery] = json.loads(out)["notifications"]
    assert delivery["ok"] is False and "ClientConnectorError" in delivery["error"]
    assert "failed: " in err


async def test_an_unreachable_database_exits_5_and_a_bad_config_6(
    db_url: str, tmp_path: Path
) -> None:
    path = config(tmp_path, "https://vendor.example.com/data", streams='["users"]')
    down = f"postgresql://postgres@127.0.0.1:{closed_port()}/nothing"
    code, _, err = await syncer("health", "--config", str(path), environ=env(down))
    assert code == 5 and "Postgres" in err
    remote = config(
        tmp_path,
        "https://vendor.example.com/data",
        extra=f'notify_url = "http://hooks.example.com{HOOK_PATH}"',
        name="remote.toml",
    )
    code, _, err = await syncer("health", "--config", str(remote), environ=env(db_url))
    assert code == 6 and "notify_url" in err and "plain http://" in err
    assert HOOK_PATH not in err
    missing = str(tmp_path / "missing.toml")
    code, _, err = await syncer("health", "--config", missing, environ=env(db_url))
    assert code == 6 and "does not exist" in err
