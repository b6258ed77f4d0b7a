"""Hostile vendor bodies: records holding bytes that are not UTF-8, and 200 answers that are HTML
maintenance pages (experiment 17, docs/reliability.md)."""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from syncer.sandbox.exto.state import ExtoSandbox
from tests.faults.harness import (
    Expected,
    Experiment,
    Finished,
    Lab,
    Outcome,
    Spec,
    compare,
    spawn,
    syncer_env,
)

#: the quarantine reason each kind of the sandbox's `bad_bytes` gets (docs/usage.md)
REASONS = {
    "value": "bytes that are not UTF-8 in a value",
    "field_name": "bytes that are not UTF-8 in a field name",
    "key": "key contains bytes that are not UTF-8",
}
#: what a run that met only HTML pages must say (syncer/bodies.py)
HTML_SAID = "sent an HTML page (text/html, "
#: bytes as the quarantine's raw writes them
_ESCAPED_BYTES = re.compile(r"(?:\\x[0-9a-f]{2})+")
#: a run still going after this long is an endless pass
RUN_LIMIT_S = 300.0


@dataclass
class Trial:
    """One trial's sandbox, config, database and outcome so far."""

    sb: ExtoSandbox
    config: str
    db_url: str
    page_size: int
    outcome: Outcome = field(default_factory=Outcome)


async def bad_bodies(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """17. Records holding bytes that are not UTF-8 (sandbox `bad_bytes`: a value, a field name,
    the key, at seeded positions) among good ones, while a random share of requests gets a 200
    HTML maintenance page. Each run exits 3 and reads every page; every bad record is
    quarantined with its reason and its bytes escaped, and nothing else is; a generation between
    runs lands beside them; then HTML on every request fails a run with exit 5 and a message
    naming the HTML page, and the next run recovers. The mirror equals the vendor's records but
    the bad ones."""
    rng = random.Random(f"{seed}:bad-bodies")
    for number in range(trials):
        bad_count = rng.randint(3, max(3, records // 1_000))
        url, sb = await lab.sandbox(master_records=records, seed=seed + number, bad_bytes=bad_count)
        sb.config.fault_seed = seed * 1000 + number
        sb.config.fault_kinds = ("html",)
        sb.config.fault_rate = round(rng.uniform(0.05, 0.2), 3)
        page_size = rng.choice((100, 250, 500))
        config = str(lab.config(url, page_size=page_size, max_attempts=15))
        trial = Trial(sb, config, await lab.database(), page_size)

        await _full_run(trial, "first run")
        sb.generation(change_pct=2.0, delete_pct=0.5, insert_pct=0.5)
        await _full_run(trial, "run after a generation")
        htmls = sum(1 for e in sb.request_log if e.fault == "html")

        sb.config.html_next = 1_000_000
        failing = str(lab.config(url, page_size=page_size, max_attempts=3))
        done = await _sync(failing, trial)
        if done is not None and (done.code != 5 or HTML_SAID not in done.err):
            trial.outcome.problems.append(f"HTML every time: exit {done.code}, {done.err[-300:]}")
        sb.config.html_next = 0
        if await _quarantined_by_last_run(trial.db_url):
            trial.outcome.problems.append("the run that met only HTML quarantined something")
        await _full_run(trial, "run after the HTML outage")

        final = await compare(trial.db_url, _good_hashes(sb))
        final.endless, final.stalled = trial.outcome.endless, trial.outcome.stalled
        final.problems += trial.outcome.problems
        tally.add(final)
        tally.notes.append(
            f"trial {number + 1}: {bad_count} bad records, {htmls} HTML pages "
            f"({sb.config.fault_rate:.0%} of requests), pages of {page_size}"
        )


async def _full_run(trial: Trial, label: str) -> None:
    """A full run that must exit 3 (quarantined) having read every page, and quarantine exactly
    the bad records; a run that stops short marks the stream stalled."""
    done = await _sync(trial.config, trial)
    if done is None:
        return
    pages = math.ceil(len(trial.sb.records("master", "LOCATION")) / trial.page_size)
    ran = await _last_run(trial.db_url)
    if done.code != 3 or ran["pages"] != pages:
        trial.outcome.stalled += 1
        trial.outcome.problems.append(
            f"{label}: exit {done.code}, {ran['pages']} of {pages} pages ({done.err[-200:]})"
        )
    problems = await _quarantine_problems(trial.db_url, ran["run_id"], trial.sb, label)
    trial.outcome.problems.extend(problems)


def _good_hashes(sb: ExtoSandbox) -> dict[str, bytes]:
    """key -> hash of every master record but those holding bad bytes (the manifest's ids)."""
    bad = {entry.id for entry in sb.data.bad_bytes}
    return Expected.of([r for r in sb.records("master", "LOCATION") if r["_id"] not in bad])


async def _sync(config: str, trial: Trial) -> Finished | None:
    """`syncer sync`; None (counted as an endless pass) when it runs past RUN_LIMIT_S."""
    started = time.monotonic()
    outcome = trial.outcome
    proc = await spawn("sync", "--config", config, env=syncer_env(trial.db_url))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=RUN_LIMIT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        outcome.endless += 1
        outcome.problems.append(f"a run was still going after {RUN_LIMIT_S:.0f} s")
        return None
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


async def _last_run(db_url: str) -> asyncpg.Record:
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow("SELECT run_id, pages FROM syncer.runs ORDER BY run_id DESC")
    finally:
        await conn.close()
    assert row is not None
    return row


async def _quarantined_by_last_run(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM syncer.quarantine WHERE run_id = (SELECT max(run_id) FROM "
            "syncer.runs)"
        )
    finally:
        await conn.close()
    return int(count)


def _shown(text: str) -> str:
    """`text` as the quarantine's raw writes it: the sandbox's stand-ins for bad bytes
    (U+DC80..U+DCFF) as `\\xNN`."""
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text)


async def _quarantine_problems(db_url: str, run_id: int, sb: ExtoSandbox, label: str) -> list[str]:
    """Every bad record of the manifest quarantined by run `run_id` with its reason and its
    bytes escaped in `raw`, and nothing else."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT key, reason, raw FROM syncer.quarantine WHERE run_id = $1", run_id
        )
    finally:
        await conn.close()
    want = Counter(
        (
            None if e.kind == "key" else e.id,
            REASONS[e.kind],
            f'"_id": "{_shown(e.id)}"',
            frozenset({"".join(f"\\x{byte:02x}" for byte in e.served)}),
        )
        for e in sb.data.bad_bytes
    )
    got: Counter[tuple[Any, ...]] = Counter()
    for row in rows:
        raw = row["raw"]
        quoted_id = raw.split(", ", 1)[0].removeprefix("{")  # the records start with _id
        escaped = frozenset(_ESCAPED_BYTES.findall(raw))
        got[(row["key"], row["reason"], quoted_id, escaped)] += 1
    if got == want:
        return []
    missing = sorted(map(str, (want - got).elements()))[:3]
    unexpected = sorted(map(str, (got - want).elements()))[:3]
    return [f"{label}: quarantine differs: missing {missing}, unexpected {unexpected}"]


SPECS = [
    Spec(
        17,
        "undecodable bytes and HTML bodies",
        {"full": (3, 10_000), "fast": (1, 3_000)},
        bad_bodies,
    ),
]
