"""Pacing against the Exto sandbox's three kinds of limiter over HTTP: the right rate draws no
429, a vendor whose real limit is lower costs a few and the sync completes, and a vendor that
answers nothing but 429 fails the run once the no-progress deadline has passed."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from syncer import engine
from tests.commands import env, syncer
from tests.conftest import TOKEN, TOKEN_ENV, SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.integration

MASTER = "master:LOCATION"
TABLE = "exto__master_location"
KINDS = ["sliding", "fixed", "token_bucket"]


@pytest.mark.parametrize("kind", KINDS)
async def test_the_documented_rate_draws_no_429_from_any_kind_of_limiter(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, kind: str
) -> None:
    """Exto's 3 requests/s enforced as a sliding window, fixed windows or a token bucket
    without burst: syncer configured at 3/s gets every page and not one 429."""
    url, sb = await sandbox(master_records=1_000, rate_limit=3, limiter=kind, limiter_burst=1)
    [result] = await engine.sync(exto_config(url, rate_limit=3, page_size=100), db_url)
    assert result.status == "succeeded", result.error
    assert sb.count_status(429) == result.stats.rate_limited == 0
    assert result.stats.requests >= 10
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_real_limit_below_the_configured_rate_costs_a_few_429s(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, kind: str
) -> None:
    """Configured at 4/s, the vendor enforces 75% of it: syncer slows down after the first
    429s, the sync completes with everything, and the run warns that the rate was lowered."""
    url, sb = await sandbox(master_records=2_000, rate_limit=4, limiter=kind, limit_factor=0.75)
    [result] = await engine.sync(exto_config(url, rate_limit=4, page_size=100), db_url)
    assert result.status == "succeeded", result.error
    await assert_mirror_equals(db, TABLE, sb.records("master", "LOCATION"), MASTER)
    limited = sb.count_status(429)
    assert limited == result.stats.rate_limited
    assert 1 <= limited <= 6, limited
    assert any("paced down to" in w for w in result.stats.warnings)
    run = await db.fetchrow("SELECT rate_limited, warnings FROM syncer.runs")
    assert run["rate_limited"] == limited
    assert any("rate_limit" in w for w in run["warnings"])


async def test_a_vendor_answering_429_forever_fails_after_the_deadline(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Every request answered 429 (with and without Retry-After): `syncer sync` exits 5 once
    no request has succeeded for rate_limit_deadline, and says so; the run is recorded as
    failed with its 429s."""
    url, sb = await sandbox(master_records=500, storm_rate=1.0, fault_seed=3)
    config = tmp_path / "syncer.toml"
    config.write_text(
        "[[connections]]\n"
        'name = "exto"\nvendor = "exto"\n'
        f'base_url = "{url}"\ntoken_env = "{TOKEN_ENV}"\n'
        "rate_limit = 20\nrate_limit_deadline = 2\nmax_attempts = 2\n"
        'streams = ["master:LOCATION"]\n'
    )
    code, out, err = await syncer("sync", "--config", str(config), environ=env(db_url))
    assert code == 5, err[-2000:]
    assert "rate_limit_deadline" in out + err
    assert TOKEN not in out + err
    run = await db.fetchrow("SELECT status, error, rate_limited, requests FROM syncer.runs")
    assert run["status"] == "failed" and "rate_limit_deadline" in run["error"]
    assert run["rate_limited"] == sb.count_status(429) == run["requests"] > 2
