"""A page's merge stages only the rows that differ from the mirror (issue 15): unchanged rows
cost an index probe, no COPY and no write; a row the page merging before it also holds is
staged all the same, so the later page still wins as it did when every row was staged."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from syncer import engine
from syncer.connectors.registry import CONNECTORS
from syncer.mirror import MergeResult, Mirror
from syncer.mirror.base import StreamRef
from syncer.mirror.merge import Merges
from syncer.models import StreamStats
from syncer.records import Prepared, Row, prepare
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

SPEC = CONNECTORS["exto"].stream("master:LOCATION", {})


def page(*records: dict[str, Any]) -> Prepared:
    return prepare(list(records), SPEC.key, None, lenient=False, view=SPEC.view)


def rec(key: str, name: str) -> dict[str, Any]:
    return {"_id": key, "customFields": {"name": name}}


class Staged(list[list[str]]):
    """The keys each merge COPYed into its stage, in order; `grew` is set at every COPY."""

    def __init__(self) -> None:
        super().__init__()
        self.grew = asyncio.Event()

    async def reach(self, count: int) -> None:
        while len(self) < count:
            self.grew.clear()
            await asyncio.wait_for(self.grew.wait(), 10)


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch) -> Staged:
    calls = Staged()
    real = Merges._stage

    async def spy(self: Merges, conn: Any, rows: Sequence[Row]) -> None:
        calls.append(sorted(r.key for r in rows))
        calls.grew.set()
        await real(self, conn, rows)

    monkeypatch.setattr(Merges, "_stage", spy)
    return calls


async def merge(mirror: Mirror, ref: StreamRef, prepared: Prepared, **kw: Any) -> MergeResult:
    run_id = await mirror.store.start_run(str(uuid.uuid4()), ref, "full", None, 0)
    return await mirror.store.merge_page(
        ref,
        run_id=run_id,
        pass_id=None,
        page=None,
        prepared=prepared,
        record_keys=False,
        stats=StreamStats(),
        **kw,
    )


async def test_only_rows_that_differ_are_staged(
    db_url: str, db: asyncpg.Connection, staged: Staged
) -> None:
    async with Mirror.connect(db_url, max_size=3) as mirror:
        ref = await mirror.ensure_stream("exto", "master:LOCATION")
        first = await merge(mirror, ref, page(rec("a", "A"), rec("b", "B"), rec("c", "C")))
        assert (first.inserted, first.updated) == (3, 0)
        await db.execute(f"UPDATE mirror.{ref.table} SET _deleted_at = now() WHERE _pk = 'c'")
        before = await db.fetchval(f"SELECT xmin::text FROM mirror.{ref.table} WHERE _pk = 'a'")

        # a unchanged, b changed, c equal but deleted in the mirror (comes back), d new
        again = await merge(
            mirror, ref, page(rec("a", "A"), rec("b", "B2"), rec("c", "C"), rec("d", "D"))
        )
        assert staged[-1] == ["b", "c", "d"]
        assert (again.inserted, again.updated, again.unchanged) == (1, 2, 1)
        rows = await db.fetch(
            f"SELECT _pk, _data->'customFields'->>'name' AS name, _deleted_at IS NULL AS live"
            f" FROM mirror.{ref.table} ORDER BY _pk"
        )
        assert [tuple(r) for r in rows] == [
            ("a", "A", True),
            ("b", "B2", True),
            ("c", "C", True),
            ("d", "D", True),
        ]
        # the unchanged row was neither written nor locked: the same row version
        assert (
            await db.fetchval(f"SELECT xmin::text FROM mirror.{ref.table} WHERE _pk = 'a'")
            == before
        )

        # a page equal to the mirror stages nothing and still counts its rows as unchanged
        same = await merge(
            mirror, ref, page(rec("a", "A"), rec("b", "B2"), rec("c", "C"), rec("d", "D"))
        )
        assert staged[-1] == []
        assert (same.inserted, same.updated, same.unchanged) == (0, 0, 4)


def hollowed(prepared: Prepared) -> Prepared:
    """The page as syncer.memo recalls it: keys and hashes, no text."""
    rows = [r._replace(text="", updated_at=None) for r in prepared.rows]
    return dataclasses.replace(prepared, rows=rows, hollow=True)


@pytest.mark.parametrize("hollow", [False, True], ids=["decoded", "hollow"])
async def test_a_key_the_page_before_still_merges_is_staged_all_the_same(
    db_url: str, db: asyncpg.Connection, staged: Staged, hollow: bool
) -> None:
    """Also when the later page was recalled hollow (syncer.memo: its body seen before): it is
    decoded from its body after all, and still wins."""
    async with Mirror.connect(db_url, max_size=4) as mirror:
        ref = await mirror.ensure_stream("exto", "master:LOCATION")
        await merge(mirror, ref, page(rec("k", "old"), rec("x", "X")))
        gate: asyncio.Future[MergeResult] = asyncio.get_running_loop().create_future()
        # the page before: k changed to "new", its merge held until this page is staged
        before = asyncio.ensure_future(merge(mirror, ref, page(rec("k", "new")), after=gate))
        # this page still holds k as the mirror has it now ("old"), read later than the other
        held = page(rec("k", "old"), rec("x", "X"))
        refills: list[Prepared] = []

        async def refill() -> Prepared:
            refills.append(held)
            return held

        sent = hollowed(held) if hollow else held
        later = asyncio.ensure_future(
            merge(mirror, ref, sent, after=before, restage=frozenset({"k"}), refill=refill)
        )
        await staged.reach(3)
        gate.set_result(MergeResult(0, 0, 0, 0))
        result = await later
        assert staged[2] == ["k"]  # x equal to the mirror: not staged; k staged all the same
        assert len(refills) == (1 if hollow else 0)
        assert (result.updated, result.unchanged) == (1, 1)
        name = await db.fetchval(
            f"SELECT _data->'customFields'->>'name' FROM mirror.{ref.table} WHERE _pk = 'k'"
        )
        assert name == "old"  # the later page wins, as when every row was staged


async def test_a_hollow_page_equal_to_the_mirror_is_never_decoded(
    db_url: str, db: asyncpg.Connection
) -> None:
    async with Mirror.connect(db_url, max_size=3) as mirror:
        ref = await mirror.ensure_stream("exto", "master:LOCATION")
        full = page(rec("k", "K"), rec("x", "X"))
        await merge(mirror, ref, full)
        versions = f"SELECT array_agg(xmin::text ORDER BY _pk) FROM mirror.{ref.table}"
        before = await db.fetchval(versions)
        refills: list[Prepared] = []

        async def refill() -> Prepared:
            refills.append(full)
            return full

        again = await merge(mirror, ref, hollowed(full), refill=refill)
        assert refills == [] and (again.updated, again.unchanged) == (0, 2)
        assert await db.fetchval(versions) == before  # nothing written


def test_the_keys_two_pages_share_are_the_ones_restaged() -> None:
    from syncer.read import _shared_keys
    from syncer.workers import DecodedPage

    def decoded(*keys: str) -> DecodedPage:
        return DecodedPage(len(keys), len(keys), None, None, True, page(*(rec(k, k) for k in keys)))

    assert _shared_keys(decoded("a", "b", "c"), decoded("c", "d", "a")) == {"a", "c"}
    assert _shared_keys(decoded("a"), decoded("b")) == frozenset()


async def test_without_a_probe_a_key_already_there_sends_the_page_through_the_stage(
    db_url: str, db: asyncpg.Connection, staged: Staged
) -> None:
    async with Mirror.connect(db_url, max_size=3) as mirror:
        ref = await mirror.ensure_stream("exto", "master:LOCATION")
        await merge(mirror, ref, page(rec("a", "A")))
        before = await db.fetchval(f"SELECT xmin::text FROM mirror.{ref.table} WHERE _pk = 'a'")
        # the straight COPY meets "a" (the page before held it too): undone, staged instead
        again = await merge(mirror, ref, page(rec("a", "A"), rec("b", "B")), probe=False)
        assert staged[-1] == ["a", "b"]
        assert (again.inserted, again.updated, again.unchanged) == (1, 0, 1)
        after = await db.fetchval(f"SELECT xmin::text FROM mirror.{ref.table} WHERE _pk = 'a'")
        assert after == before


async def test_a_first_load_looks_nothing_up_and_a_re_sync_does(
    sandbox: SandboxFactory,
    db_url: str,
    token_env: str,
    monkeypatch: pytest.MonkeyPatch,
    staged: Staged,
) -> None:
    probes: list[int] = []
    real = Merges._changed

    async def spy(self: Merges, conn: Any, ref: Any, rows: Sequence[Row], *rest: Any) -> Any:
        probes.append(len(rows))
        return await real(self, conn, ref, rows, *rest)

    monkeypatch.setattr(Merges, "_changed", spy)
    url, _ = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    [first] = await engine.sync(config, db_url)
    assert first.status == "succeeded" and first.stats.inserted == first.stats.records > 0
    assert probes == []
    assert not any(staged)  # every page COPYed straight into the table
    staged.clear()
    [again] = await engine.sync(config, db_url)
    assert again.status == "succeeded" and again.stats.unchanged == again.stats.records
    assert sum(probes) == again.stats.records
    assert staged and not any(staged)  # nothing differed: nothing COPYed


async def test_keys_seen_again_are_forgotten_from_missing_and_held_deletes(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    url, sb = await sandbox()
    config = exto_config(url, streams=["master:LOCATION"])
    [first] = await engine.sync(config, db_url)
    assert first.status == "succeeded"
    stream_id = await db.fetchval("SELECT stream_id FROM syncer.streams")
    pass_id = await db.fetchval("SELECT max(pass_id) FROM syncer.runs")
    seen, gone = sb.records("master", "LOCATION")[0]["_id"], "no-such-key"
    for key in (seen, gone):
        await db.execute(
            "INSERT INTO syncer.missing_keys (stream_id, key, first_missing_pass)"
            " VALUES ($1, $2, $3)",
            stream_id,
            key,
            pass_id,
        )
        await db.execute(
            "INSERT INTO syncer.held_deletes (stream_id, key, pass_id, run_id)"
            " VALUES ($1, $2, $3, $4)",
            stream_id,
            key,
            pass_id,
            first.run_id,
        )
    # a page holding `seen` forgets it: a later pass must not count it missing twice
    [again] = await engine.sync(config, db_url)
    assert again.status == "succeeded"
    missing = [r["key"] for r in await db.fetch("SELECT key FROM syncer.missing_keys")]
    held = [r["key"] for r in await db.fetch("SELECT key FROM syncer.held_deletes")]
    assert seen not in missing and seen not in held
    assert gone in missing  # (the complete pass settled every held delete)


async def test_a_page_copied_straight_in_is_counted_and_stored_like_a_merged_one(
    db_url: str, db: asyncpg.Connection, staged: Staged
) -> None:
    async with Mirror.connect(db_url, max_size=3) as mirror:
        ref = await mirror.ensure_stream("exto", "master:LOCATION")
        result = await merge(mirror, ref, page(rec("a", "A"), rec("b", "B")), probe=False)
        assert staged == []  # no stage at all
        assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
        rows = await db.fetch(
            f"SELECT _pk, _hash, _synced_at, _deleted_at, _run_id FROM mirror.{ref.table}"
            " ORDER BY _pk"
        )
        prepared = page(rec("a", "A"), rec("b", "B"))
        assert [r["_pk"] for r in rows] == ["a", "b"]
        assert [bytes(r["_hash"]) for r in rows] == [x.digest for x in prepared.rows]
        assert all(r["_deleted_at"] is None and r["_synced_at"] is not None for r in rows)
        run = await db.fetchrow("SELECT run_id, inserted, unchanged FROM syncer.runs")
        assert {r["_run_id"] for r in rows} == {run["run_id"]}
        assert (run["inserted"], run["unchanged"]) == (2, 0)
