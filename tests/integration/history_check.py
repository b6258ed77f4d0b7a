"""The versions a stream's history should hold, from what the Exto sandbox did, and the check
of mirror_history against them (tests of history, in process and through the command)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import asyncpg

from syncer.sandbox.exto import ExtoSandbox
from tests.integration.mirror_check import expected

MASTER = "master:LOCATION"
TABLE = "exto__master_location"
HISTORY = f'mirror_history."{TABLE}"'


@dataclass
class Model:
    """The versions each key should have: (operation, hash) in order, from what the sandbox
    held at each sync (a key gone from the sandbox is deleted, back again undeleted)."""

    versions: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    #: run_id -> how many versions that run should have written
    per_run: dict[int, int] = field(default_factory=dict)

    def saw(self, sb: ExtoSandbox, run_id: int) -> None:
        now = expected(sb.records("master", "LOCATION"), MASTER)
        written = 0
        for key, digest in now.items():
            seen = self.versions.setdefault(key, [])
            if not seen:
                seen.append(("insert", digest))
            elif seen[-1][0] == "delete":
                seen.append(("undelete", digest))
            elif seen[-1][1] != digest:
                seen.append(("update", digest))
            else:
                continue
            written += 1
        for key, seen in self.versions.items():
            if key not in now and seen[-1][0] != "delete":
                seen.append(("delete", seen[-1][1]))
                written += 1
        self.per_run[run_id] = written


async def versions(db: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    rows = await db.fetch(
        f"SELECT * FROM {HISTORY} ORDER BY _pk, _valid_from, _valid_to NULLS LAST"
    )
    out: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["_pk"], []).append(r)
    return out


async def assert_history(
    db: asyncpg.Connection, model: Model, same_run: dict[int, int] | None = None
) -> None:
    """Every key's versions are the model's; the intervals follow one another, the last open;
    each run wrote exactly the versions it saw (`same_run`: run -> the run whose versions it
    shares, a killed run and its rerun)."""
    got = await versions(db)
    assert got.keys() == model.versions.keys()
    wrong = [
        k
        for k, want in model.versions.items()
        if [(r["_operation"], bytes(r["_hash"])) for r in got[k]] != want
    ]
    assert not wrong, f"{len(wrong)} keys differ, e.g. {wrong[:3]}: {got[wrong[0]]}"
    for rows in got.values():
        for earlier, later in itertools.pairwise(rows):
            assert earlier["_valid_to"] == later["_valid_from"]
        assert rows[-1]["_valid_to"] is None
    per_run: dict[int, int] = {}
    for run, n in await db.fetch(f"SELECT _run_id, count(*) FROM {HISTORY} GROUP BY 1"):
        run = (same_run or {}).get(run, run)
        per_run[run] = per_run.get(run, 0) + n
    assert per_run == {run: n for run, n in model.per_run.items() if n}
    mirror = await db.fetch(f'SELECT _pk, _synced_at, _deleted_at, _run_id FROM mirror."{TABLE}"')
    for m in mirror:
        last = got[m["_pk"]][-1]
        assert last["_valid_from"] == (m["_deleted_at"] or m["_synced_at"])
        assert last["_run_id"] == m["_run_id"]
