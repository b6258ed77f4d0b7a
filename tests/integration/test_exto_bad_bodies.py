"""Bad bodies from Exto, over HTTP into real Postgres: records holding bytes that are not UTF-8
are quarantined while their neighbours land (and no later run stops at their page); a 200
answer that is an HTML page is retried, and never becomes records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncer import engine, errors
from syncer.sandbox.exto import ExtoSandbox
from syncer.sandbox.exto.faults import MAINTENANCE_PAGE
from tests.commands import env, syncer
from tests.conftest import TOKEN_ENV, SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals, live

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"
#: the quarantine reason of each kind of the sandbox's `bad_bytes` (docs/usage.md)
REASONS = {
    "value": "bytes that are not UTF-8 in a value",
    "field_name": "bytes that are not UTF-8 in a field name",
    "key": "key contains bytes that are not UTF-8",
}
MAINTENANCE = 'title "Exto is down for maintenance") instead of JSON'


def good_records(sb: ExtoSandbox) -> list[dict[str, Any]]:
    bad = {entry.position for entry in sb.data.bad_bytes}
    return [r for i, r in enumerate(sb.records("master", "LOCATION")) if i not in bad]


def shown(served: bytes) -> str:
    """How the quarantine's raw text writes bad bytes: `\\xNN` each."""
    return "".join(f"\\x{byte:02x}" for byte in served)


def shown_text(text: str) -> str:
    """`text` as the quarantine's raw text writes it: the sandbox's stand-ins for bad bytes
    (U+DC80..U+DCFF) as `\\xNN`, the rest as it is."""
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text)


async def quarantine(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch("SELECT key, reason, raw, page FROM syncer.quarantine ORDER BY id")


async def test_records_with_bad_bytes_are_quarantined_and_their_pages_land(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """Each bad record is in the quarantine with its reason and its bytes escaped; every other
    record of its page (and of the stream) lands; the run says "quarantined"."""
    url, sb = await sandbox(bad_bytes=9)
    [result] = await engine.sync(exto_config(url, page_size=500), db_url)
    assert result.status == "quarantined" and result.error is None
    assert result.exit_code == errors.ExitCode.QUARANTINED
    assert result.stats.quarantined == 9 and result.stats.pages == 6
    await assert_mirror_equals(db, TABLE, good_records(sb), MASTER)
    rows = await quarantine(db)
    assert len(rows) == 9
    for entry, row in zip(sb.data.bad_bytes, rows, strict=True):
        assert row["reason"] == REASONS[entry.kind]
        assert row["key"] == (None if entry.kind == "key" else entry.id)
        assert row["page"] == entry.position // 500 + 1
        assert shown(entry.served) in row["raw"] and row["raw"].startswith("{")
        assert f'"_id": "{shown_text(entry.id)}"' in row["raw"]
    run = await db.fetchrow("SELECT status, quarantined, pages FROM syncer.runs")
    assert tuple(run) == ("quarantined", 9, 6)


async def test_the_next_run_passes_the_page_again(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """No stall: a later full run reads every page, the bad records' pages included, and a
    record that changes beside a bad one lands."""
    url, sb = await sandbox(bad_bytes=3, master_records=2_000)
    config = exto_config(url, page_size=100)
    [first] = await engine.sync(config, db_url)
    assert first.status == "quarantined"
    sb.generation(change_pct=10, delete_pct=0, insert_pct=0)
    [second] = await engine.sync(config, db_url)
    assert second.status == "quarantined" and second.stats.pages == 20
    assert second.stats.updated > 0 and second.stats.quarantined == 3
    await assert_mirror_equals(db, TABLE, good_records(sb), MASTER)
    checkpoint = await db.fetchval("SELECT coalesce(max(checkpoint_page), 0) FROM syncer.passes")
    assert checkpoint in (0, 20)  # the pass finished (a finished pass may reset its checkpoint)


async def test_the_cli_exits_3_when_records_hold_bad_bytes(
    sandbox: SandboxFactory, db_url: str, tmp_path: Path
) -> None:
    url, _ = await sandbox(bad_bytes=2, master_records=500)
    config = tmp_path / "syncer.toml"
    config.write_text(
        "[[connections]]\n"
        'name = "exto"\nvendor = "exto"\n'
        f'base_url = "{url}"\ntoken_env = "{TOKEN_ENV}"\n'
        'rate_limit = 1000\nstreams = ["master:LOCATION"]\n'
    )
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 3, err[-2000:]
    assert "quarantined" in out


async def test_html_answers_are_retried_and_never_become_records(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(master_records=1_000, html_next=2)
    [result] = await engine.sync(exto_config(url, page_size=250, window=1), db_url)
    assert result.status == "succeeded", result.error
    assert [e.fault for e in sb.request_log[:3]] == ["html", "html", None]
    assert result.stats.retries == 2 and result.stats.pages == 4
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    assert await quarantine(db) == []


async def test_html_answers_in_the_fault_mix_cost_retries_only(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(
        master_records=1_000, fault_rate=0.3, fault_kinds=["html"], fault_seed=5
    )
    [result] = await engine.sync(exto_config(url, page_size=100, max_attempts=20), db_url)
    assert result.status == "succeeded", result.error
    htmls = sum(1 for e in sb.request_log if e.fault == "html")
    assert htmls > 0 and result.stats.retries == htmls
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    assert await quarantine(db) == []


async def test_a_persistent_html_page_fails_the_run_with_exit_5_and_says_so(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox(html_next=1_000)
    config = exto_config(url, max_attempts=3, window=1)
    [result] = await engine.sync(config, db_url)
    assert result.status == "failed"
    assert result.exit_code == errors.ExitCode.TRANSIENT
    assert result.error is not None
    assert result.error == (  # as docs/usage.md shows it
        f"stream master:LOCATION page 1: exto sent an HTML page (text/html, "
        f"{len(MAINTENANCE_PAGE)} bytes, {MAINTENANCE}"
    )
    assert len(sb.request_log) == 3 and {e.fault for e in sb.request_log} == {"html"}
    mirrored = await db.fetchval("SELECT to_regclass($1)", f'mirror."{TABLE}"')
    assert mirrored is None or await live(db, TABLE) == {}
    assert await quarantine(db) == []
    run = await db.fetchrow("SELECT status, error FROM syncer.runs")
    assert run["status"] == "failed" and MAINTENANCE in run["error"]
