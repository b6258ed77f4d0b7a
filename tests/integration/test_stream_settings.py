"""Per-stream settings reach the vendor over HTTP: read options (Exto's `filter`, `status`),
headers (X-PROJECT-ID) and page size; a scoped full pass deletes nothing outside its scope."""

from __future__ import annotations

import asyncpg
import pytest

from syncer import engine
from tests.conftest import SandboxFactory, exto_config
from tests.integration.mirror_check import assert_mirror_equals

pytestmark = pytest.mark.integration


async def test_read_options_and_headers_of_each_stream(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox()
    modules = sb.records("module", "INSPECTION")
    project = next(r["projectID"] for r in modules if r.get("projectID"))
    masters = sb.records("master", "LOCATION")
    city = masters[0]["customFields"]["city"]
    config = exto_config(
        url,
        streams=("master:LOCATION", "module:INSPECTION"),
        per_stream={
            "master:LOCATION": {"options": {"filter": f"city:STRING:eq:{city}"}, "page_size": 7},
            "module:INSPECTION": {
                "options": {"status": "Approved"},
                "headers": {"X-PROJECT-ID": project},
            },
        },
    )
    results = await engine.sync(config, db_url)
    assert [r.status for r in results] == ["succeeded", "succeeded"], [r.error for r in results]
    in_city = [r for r in masters if r["customFields"]["city"] == city]
    assert 0 < len(in_city) < len(masters)
    await assert_mirror_equals(db, "exto__master_location", in_city, "master:LOCATION")
    approved = [
        r
        for r in modules
        if r.get("projectID") == project and r["customFields"].get("status") == "Approved"
    ]
    assert 0 < len(approved) < len(modules)
    await assert_mirror_equals(db, "exto__module_inspection", approved, "module:INSPECTION")
    pages = [e for e in sb.request_log if e.path.endswith("/master-record/LOCATION")]
    assert {e.query.get("pageSize") for e in pages} == {"7"}
    # a second full pass of the same scope is complete and deletes nothing
    again = await engine.sync(config, db_url)
    assert [r.stats.deleted for r in again] == [0, 0]
    assert [r.status for r in again] == ["succeeded", "succeeded"]
