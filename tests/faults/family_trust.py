"""Hostile vendors and operators (issue 10): pages that lie, timestamps that lie, and a lock
whose session dies (experiments 15, 16 and 20, docs/reliability.md).

Every trial ends with the usual mirror/vendor comparison, plus: nothing the vendor holds is ever
marked deleted (also checked between runs, while the vendor lies), no pass is endless (a run
past RUN_LIMIT_S is killed and counted), and no stream is stalled (once the vendor behaves, the
next run ends with the mirror equal).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg

from syncer.sandbox.exto.state import ExtoSandbox
from tests.faults.harness import (
    TABLE,
    Expected,
    Experiment,
    Finished,
    Lab,
    Outcome,
    Spec,
    compare,
    spawn,
)
from tests.faults.harness import syncer_env as env

#: a run still going after this long is an endless pass
RUN_LIMIT_S = 120.0
#: the lies experiment 15 draws from: knob -> how to draw its value
LIES = (
    "short_pages",
    "empty_pages",
    "repeat_pages",
    "ignore_page",
    "total_under",
    "total_over",
    "total_pages_delta",
    "totals_wobble",
)
HEALED: dict[str, Any] = {
    "short_pages": [],
    "empty_pages": [],
    "repeat_pages": [],
    "ignore_page": False,
    "total_delta": 0,
    "total_pages_delta": 0,
    "totals_wobble": 0,
    "envelope": "rows",
}


async def bounded(*args: str, env: dict[str, str], outcome: Outcome, label: str) -> Finished:
    """A syncer run; one still going after RUN_LIMIT_S is killed and counted as endless."""
    started = time.monotonic()
    proc = await spawn(*args, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=RUN_LIMIT_S)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        outcome.endless += 1
        outcome.problems.append(f"{label}: still running after {RUN_LIMIT_S:.0f} s")
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


def draw_lies(rng: random.Random, pages: int, size: int, records: int) -> dict[str, Any]:
    """One or two lies, at seeded random positions."""
    lies: dict[str, Any] = {}
    for kind in rng.sample(LIES, rng.choice((1, 2))):
        inside = list(range(2, pages))  # never the first or the last page
        if kind in ("short_pages", "empty_pages", "repeat_pages"):
            lies[kind] = sorted(rng.sample(inside, min(len(inside), rng.randint(1, 3))))
        elif kind == "ignore_page":
            lies["ignore_page"] = True
            lies["envelope"] = rng.choice(("rows", "array"))
        elif kind == "total_under":
            lies["total_delta"] = -rng.randint(size, records // 3)
        elif kind == "total_over":
            lies["total_delta"] = rng.randint(size, records // 3)
        elif kind == "total_pages_delta":
            lies["total_pages_delta"] = rng.choice((-3, -2, -1, 1, 2, 3))
        else:
            lies["totals_wobble"] = rng.randint(1, size)
    return lies


async def wrongly_deleted(db_url: str, sb: ExtoSandbox) -> int:
    """Keys the vendor holds that the mirror marked deleted, right now."""
    return (await compare(db_url, Expected(sb).hashes)).wrongly_deleted


async def lying_pages(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """15. Pages that lie: short, empty and repeated pages at random positions, a vendor that
    ignores `page`, and `total`/`totalPages` that lie or change from answer to answer. After a
    healthy load and a generation (changes and a few deletes), two full runs against the lying
    vendor: each exits 3 (incomplete), ends in time, and deletes nothing the vendor holds; then
    the vendor heals and the next run ends with the mirror equal."""
    rng = random.Random(f"{seed}:lying-pages")
    drawn: Counter[str] = Counter()
    for trial in range(trials):
        size = rng.choice((100, 200, 250))
        url, sb = await lab.sandbox(master_records=records, seed=seed + trial)
        config = str(lab.config(url, page_size=size, window=rng.choice((1, 4, 8))))
        db_url = await lab.database()
        outcome = Outcome()
        first = await bounded(
            "sync", "--config", config, env=env(db_url), outcome=outcome, label="load"
        )
        if first.code != 0:
            outcome.problems.append(f"the healthy load exited {first.code}: {first.err[-200:]}")
        sb.generation(change_pct=2, delete_pct=1, insert_pct=1)
        pages = -(-len(sb.records("master", "LOCATION")) // size)
        lies = draw_lies(rng, pages, size, records)
        sb.config.apply(lies)
        # lies that hide records must make the pass incomplete; lies only in the counts may
        # go unnoticed (every page agreed with its own answer), and then the pass really was
        # complete: what matters is that nothing the vendor holds is deleted
        hiding = bool(set(lies) & {"short_pages", "empty_pages", "repeat_pages", "ignore_page"})
        for n in (1, 2):
            lying = await bounded(
                "sync", "--config", config, env=env(db_url), outcome=outcome, label=f"lying run {n}"
            )
            said = lying.code == 3 and "incomplete" in lying.out
            if (hiding and not said) or lying.code not in (0, 3):
                outcome.problems.append(
                    f"lying run {n} with {lies} exited {lying.code}"
                    + ("" if said else " without saying the pass was incomplete")
                )
            outcome.wrongly_deleted += await wrongly_deleted(db_url, sb)
        sb.config.apply(HEALED)
        healed = await bounded(
            "sync", "--config", config, env=env(db_url), outcome=outcome, label="healed run"
        )
        found = await compare(db_url, Expected(sb).hashes)
        if healed.code != 0 or not found.passed:
            outcome.stalled += 1
            outcome.problems.append(f"after healing from {lies}: exit {healed.code}")
        found.wrongly_deleted += outcome.wrongly_deleted
        found.endless, found.stalled = outcome.endless, outcome.stalled
        found.problems += outcome.problems
        tally.add(found)
        drawn.update(k for k in lies if k != "envelope")
    tally.notes.append("lies drawn: " + ", ".join(f"{k} x{n}" for k, n in sorted(drawn.items())))


async def _cursor(db_url: str) -> datetime | None:
    conn = await asyncpg.connect(db_url)
    try:
        value: datetime | None = await conn.fetchval("SELECT cursor FROM syncer.stream_state")
    finally:
        await conn.close()
    return value


async def lying_clocks(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """16. Timestamps that lie: records stamped far in the future (up to 2999) and changes
    stamped in the past (late writes), among generations on a vendor clock that follows real
    time. The cursor never passes the moment its pass started; incremental runs keep bringing
    every honestly stamped change (a blind cursor would leave them stale: a stalled stream);
    the next full pass repairs the late writes and ends equal."""
    rng = random.Random(f"{seed}:lying-clocks")
    for trial in range(trials):
        url, sb = await lab.sandbox(master_records=records, seed=seed + trial)
        sb.data.generation_epoch_ms = int(time.time() * 1000)
        sb.data.generation_step_ms = 1_000
        config = str(lab.config(url, page_size=500))
        db_url = await lab.database()
        outcome = Outcome()
        load = await bounded(
            "sync", "--config", config, env=env(db_url), outcome=outcome, label="load"
        )
        if load.code != 0:
            outcome.problems.append(f"the load exited {load.code}: {load.err[-200:]}")
        late: set[str] = set()
        for step in range(3):
            years = rng.choice((1, 10, 973))  # 973 years: the 2999 of the issue
            future = int(time.time() * 1000) + years * 365 * 86_400_000
            sb.data.restamp(rng.randint(1, 3), future)
            past = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
            late.update(sb.data.restamp(rng.randint(1, 3), past, change=True))
            sb.generation(change_pct=1, delete_pct=0, insert_pct=0.5)
            before = datetime.now(UTC)
            done = await bounded(
                "sync",
                "--config",
                config,
                "--mode",
                "incremental",
                env=env(db_url),
                outcome=outcome,
                label=f"incremental {step + 1}",
            )
            if done.code != 0:
                outcome.problems.append(f"incremental {step + 1} exited {done.code}")
            cursor = await _cursor(db_url)
            if cursor is not None and cursor > datetime.now(UTC):
                outcome.problems.append(f"the cursor moved into the future: {cursor.isoformat()}")
            # every honestly stamped change must be in; only the late writes may be stale
            found = await compare(db_url, _without(Expected(sb).hashes, late))
            if found.lost or found.stale:
                outcome.stalled += 1
                outcome.problems.append(
                    f"after incremental {step + 1} ({before:%H:%M:%S}): {found.lost} lost, "
                    f"{found.stale} stale besides the late writes (a blind cursor)"
                )
            outcome.wrongly_deleted += found.wrongly_deleted
        full = await bounded(
            "sync", "--config", config, env=env(db_url), outcome=outcome, label="full"
        )
        if full.code != 0:
            outcome.problems.append(f"the closing full run exited {full.code}")
        found = await compare(db_url, Expected(sb).hashes)
        found.wrongly_deleted += outcome.wrongly_deleted
        found.endless, found.stalled = outcome.endless, outcome.stalled
        found.problems += outcome.problems
        tally.add(found)
    tally.notes.append("future stamps of 1, 10 and 973 years; late writes stamped 2024-01-01")


def _without(want: dict[str, bytes], keys: set[str]) -> dict[str, bytes]:
    return {k: v for k, v in want.items() if k not in keys}


async def _lock_holder(db_url: str) -> int | None:
    conn = await asyncpg.connect(db_url)
    try:
        pid: int | None = await conn.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            "LIMIT 1"
        )
    finally:
        await conn.close()
    return pid


async def _rows_of(db_url: str, run_id: int) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass($1)", f'mirror."{TABLE}"')
        count: int = (
            await conn.fetchval(f'SELECT count(*) FROM mirror."{TABLE}" WHERE _run_id = $1', run_id)
            if exists
            else 0
        )
    finally:
        await conn.close()
    return count


async def _runs(db_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(
            await conn.fetch("SELECT run_id, status, error FROM syncer.runs ORDER BY run_id")
        )
    finally:
        await conn.close()


async def lock_lost(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """20. The backend holding a run's stream lock is terminated at a random moment of the run,
    and a second run starts at once: the second takes the lock and the next fencing token; the
    first commits nothing after that moment and exits 5 ("took over") or had already finished;
    the second exits 0; a last run ends with the mirror equal."""
    rng = random.Random(f"{seed}:lock-lost")
    # 100 pages at 40 ms: a run holds its lock for 4 s or more after a start-up of about 1 s
    url, sb = await lab.sandbox(master_records=records, seed=seed, latency_ms=40)
    want = Expected(sb).hashes
    config = str(lab.config(url, page_size=max(10, records // 100), window=1))
    ends: Counter[tuple[int | None, ...]] = Counter()
    for _ in range(trials):
        db_url = await lab.database()
        outcome = Outcome()
        first = await spawn("sync", "--config", config, env=env(db_url))
        holder = None
        deadline = time.monotonic() + rng.uniform(1.5, 3.0)
        while time.monotonic() < deadline or holder is None:
            holder = await _lock_holder(db_url)
            if first.returncode is not None:
                break
            await asyncio.sleep(0.02)
        if holder is None:
            outcome.problems.append("the first run never held its lock")
        else:
            admin = await asyncpg.connect(db_url)
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", holder)
            finally:
                await admin.close()
        second = await spawn("sync", "--config", config, env=env(db_url))
        frozen: int | None = None
        while second.returncode is None and frozen is None:
            runs = await _runs(db_url)
            if len(runs) >= 2:
                frozen = await _rows_of(db_url, runs[0]["run_id"])
            await asyncio.sleep(0.01)
        codes = []
        for proc, label in ((first, "first"), (second, "second")):
            try:
                await asyncio.wait_for(proc.communicate(), timeout=RUN_LIMIT_S)
            except TimeoutError:
                proc.kill()
                await proc.communicate()
                outcome.endless += 1
                outcome.problems.append(f"the {label} run did not end")
            codes.append(proc.returncode)
        runs = await _runs(db_url)
        if codes[0] not in (0, 5) or codes[1] != 0:
            outcome.problems.append(f"exit codes {codes}: expected first 0 or 5, second 0")
        if codes[0] == 5 and "took over" not in (runs[0]["error"] or ""):
            outcome.problems.append(f"the first run failed otherwise: {runs[0]['error']}")
        if frozen is not None and await _rows_of(db_url, runs[0]["run_id"]) != frozen:
            outcome.problems.append("the first run committed after the second took its lock")
        last = await bounded(
            "sync", "--config", config, env=env(db_url), outcome=outcome, label="last"
        )
        if last.code != 0:
            outcome.stalled += 1
            outcome.problems.append(f"the last run exited {last.code}")
        found = await compare(db_url, want)
        found.endless, found.stalled = outcome.endless, outcome.stalled
        found.problems += outcome.problems
        tally.add(found)
        ends[tuple(codes)] += 1
    tally.notes.append(
        "exit codes (first, second): "
        + ", ".join(f"{a} then {b} x{n}" for (a, b), n in sorted(ends.items(), key=str))
    )


SPECS = [
    Spec(
        15,
        "pages that lie: short, empty, repeated, ignored; totals that lie or change",
        {"full": (12, 5_000), "fast": (3, 2_000)},
        lying_pages,
    ),
    Spec(
        16,
        "timestamps that lie: updatedAt in the future, changes stamped in the past",
        {"full": (4, 10_000), "fast": (1, 3_000)},
        lying_clocks,
    ),
    Spec(
        20,
        "the lock holder's backend terminated, a second run started",
        {"full": (10, 3_000), "fast": (1, 2_000)},
        lock_lost,
    ),
]
