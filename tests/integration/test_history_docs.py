"""The history queries of docs/analysts.md, as written there, run by the analyst role
(`syncer grant-analyst`) against a history the sandbox moved through three generations: "as
of" a time gives the stream as the sandbox held it then, "changes between two times" the
versions of the run in between, and the role reads the history but cannot write it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import pytest

from syncer import roles
from syncer.records import content_hash
from tests.conftest import ROOT, SandboxFactory, exto_config
from tests.integration.history_check import HISTORY, MASTER, Model
from tests.integration.mirror_check import expected
from tests.integration.test_history import sync_once

pytestmark = pytest.mark.integration

SECTION = "## History: every version of a key"
LITERAL = re.compile(r"timestamptz '[^']*'")


def doc_queries() -> list[str]:
    """The ```sql blocks of the history section of docs/analysts.md, in order."""
    text = (ROOT / "docs" / "analysts.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.DOTALL)


def query(marker: str) -> str:
    """The doc's query holding `marker`, its time literals turned into $1, $2 (in order)."""
    [sql] = [q for q in doc_queries() if marker in q]
    literals = list(dict.fromkeys(LITERAL.findall(sql)))
    for n, literal in enumerate(literals, 1):
        sql = sql.replace(literal, f"${n}::timestamptz")
    return sql


@pytest.fixture
async def analyst(db_url: str, db: asyncpg.Connection) -> AsyncIterator[str]:
    """A read-only analyst role (roles are global to the server: dropped after the test)."""
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    assert await roles.grant_analyst(db_url, role) is True
    yield role
    await db.execute(f'DROP OWNED BY "{role}"')
    await db.execute(f'DROP ROLE "{role}"')


async def as_role(db: asyncpg.Connection, role: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with db.transaction():
        await db.execute(f'SET LOCAL ROLE "{role}"')
        return await db.fetch(sql, *args)


async def test_the_documented_history_queries_as_the_analyst(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str, analyst: str
) -> None:
    url, sb = await sandbox()
    config = exto_config(url, per_stream={MASTER: {"history": True}})
    model = Model()
    marks: list[datetime] = []
    states: list[dict[str, bytes]] = []
    gens = []
    seen: list[dict[str, int]] = []  # per round: how many versions each key had
    for round_ in range(3):
        if round_:
            gens.append(sb.generation(change_pct=3.0, delete_pct=1.0, insert_pct=1.0))
        result = await sync_once(config, db_url)
        model.saw(sb, result.run_id or 0)
        seen.append({k: len(v) for k, v in model.versions.items()})
        states.append(expected(sb.records("master", "LOCATION"), MASTER))
        marks.append(await db.fetchval("SELECT clock_timestamp()"))

    as_of = query("_operation <> 'delete'")
    for mark, state in zip(marks, states, strict=True):
        rows = await as_role(db, analyst, as_of, mark)
        assert {r["_pk"]: content_hash(orjson.loads(r["_data"])) for r in rows} == state

    between = query("ORDER BY _valid_from, _pk")
    rows = await as_role(db, analyst, between, marks[0], marks[1])
    want = {
        (k, op) for k, n in seen[1].items() for op, _ in model.versions[k][seen[0].get(k, 0) : n]
    }
    assert {op for _, op in want} >= {"insert", "update", "delete"}
    assert {(r["_pk"], r["_operation"]) for r in rows} == want
    assert {r["_run_id"] for r in rows} == {list(model.per_run)[1]}

    deleted = query("WHERE _operation = 'delete'")
    rows = await as_role(db, analyst, deleted, marks[1], marks[2])
    assert {r["_pk"] for r in rows} == set(gens[1].deleted) & states[1].keys() != set()

    fields = await as_role(db, analyst, query("jsonb_each"))
    updated = {k for k, v in model.versions.items() if any(op == "update" for op, _ in v)}
    assert fields and {r["_pk"] for r in fields} <= updated
    assert all(r["before"] != r["after"] for r in fields)

    [one] = [q for q in doc_queries() if "serial_number' = '1'" in q]
    assert await as_role(db, analyst, one)

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(db, analyst, f"DELETE FROM {HISTORY}")
