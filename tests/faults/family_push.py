"""Fault experiments of pushes: the order of a key's rows across operations and pushes, and
supersession, against an Exto sandbox that rejects some keys' writes for a while.

19. Seeded random interleavings of upserts (by serial number), updates and deletes (by refId)
of a few records, queued over several pushes, each push with a random set of serial numbers
and refIds whose writes the sandbox rejects (`reject_keys`), then one push with none refused
and nothing new (what is still rejected is retried: a row that should have been superseded
would now land). The vendor must end as if the accepted rows had been applied in outbox order
(computed from the outbox's outcomes), no superseded row may be sent by a later push, no
accepted row may be sent after its successful send, and after a final pull the mirror must
equal the vendor.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from syncer.sandbox.exto import create_app
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from tests.faults.harness import Expected, Experiment, Lab, Outcome, Spec, compare, run
from tests.faults.harness import syncer_env as env

RECORDS = "/data/api/v1/master-record/LOCATION"
PUSHES = 5
ROWS_PER_PUSH = (6, 14)
EXISTING_KEYS, NEW_KEYS = 4, 2
REFUSED_SHARE = 0.3


@dataclass
class Send:
    """A write request the sandbox answered: which push, the row tokens it carried, status."""

    push: int
    tokens: list[str]
    status: int


@dataclass
class Wire:
    """The write bodies the sandbox receives (a middleware in front of its own)."""

    push: int = 0
    sends: list[Send] = field(default_factory=list)

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def record(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            body = await request.read() if request.method != "GET" else b""
            response = await handler(request)
            if request.path == RECORDS and body:
                rows = orjson.loads(body)
                tokens = [_token(r) for r in rows if isinstance(r, dict)]
                self.sends.append(Send(self.push, [t for t in tokens if t], response.status))
            return response

        return record


def _token(row: dict[str, Any]) -> str | None:
    value = row.get("city") or row.get("note")
    return value if isinstance(value, str) else None


async def _serve(wire: Wire, **knobs: Any) -> tuple[str, ExtoSandbox, web.AppRunner]:
    """An Exto sandbox with `wire` in front of its middleware, on 127.0.0.1."""
    app = create_app(ExtoConfig(**knobs))
    app.middlewares.insert(0, wire.middleware())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}/data", app[EXTO_KEY], runner


def _by_serial(sb: ExtoSandbox, serials: set[int]) -> dict[int, list[dict[str, Any]]]:
    """serial -> its records (soft-deleted ones too), in insertion order."""
    out: dict[int, list[dict[str, Any]]] = {s: [] for s in serials}
    for record in sb.records("master"):
        serial = record["customFields"].get("serial_number")
        if serial in out:
            out[serial].append(record)
    return out


def _queue(
    rng: random.Random, sb: ExtoSandbox, serials: list[int], counter: list[int]
) -> list[tuple[str, dict[str, Any]]]:
    """A random interleaving of rows over the keys. Updates and deletes name refIds the vendor
    has (a deleted record's now and then: a row the vendor cannot apply)."""
    held = _by_serial(sb, set(serials))
    rows: list[tuple[str, dict[str, Any]]] = []
    for _ in range(rng.randint(*ROWS_PER_PUSH)):
        serial = rng.choice(serials)
        counter[0] += 1
        n = counter[0]
        records = held[serial]
        live = [r for r in records if not r["isDeleted"]]
        pick = rng.random()
        if not records or pick < 0.45:
            rows.append(("upsert", {"serial_number": serial, "city": f"c{n}"}))
            continue
        target = live[-1] if live and rng.random() < 0.85 else rng.choice(records)
        if pick < 0.8:
            rows.append(("update", {"refId": target["refId"], "city": f"c{n}"}))
        else:
            rows.append(("delete", {"refId": target["refId"], "note": f"d{n}"}))
    return rows


async def _enqueue(db_url: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "INSERT INTO syncer.outbox (connection, endpoint, operation, payload) "
            "VALUES ('exto', 'master:LOCATION', $1, $2::jsonb)",
            [(op, orjson.dumps(payload).decode()) for op, payload in rows],
        )
    finally:
        await conn.close()


async def _outbox(db_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetch(
            "SELECT id, operation, payload, state FROM syncer.outbox ORDER BY id"
        )
    finally:
        await conn.close()


def _state(record: dict[str, Any]) -> list[Any]:
    """[city, deleted] of a record."""
    return [record["customFields"].get("city"), record["isDeleted"]]


def _expected_problems(
    start: dict[int, list[dict[str, Any]]],
    end: dict[int, list[dict[str, Any]]],
    outbox: list[asyncpg.Record],
) -> tuple[int, int, list[str]]:
    """Apply the accepted rows, in outbox order, to the records the keys had at the start;
    compare with the vendor's records: (records that differ, extra records, problems)."""
    # a refId names the k-th record of its serial, in insertion order (the vendor's list)
    place = {r["refId"]: (s, k) for s, records in end.items() for k, r in enumerate(records)}
    model = {
        s: [[r["customFields"].get("city"), r["isDeleted"]] for r in rs] for s, rs in start.items()
    }
    problems: list[str] = []
    for row in outbox:
        if row["state"] != "accepted":
            continue
        payload = orjson.loads(row["payload"])
        if row["operation"] == "upsert":
            mine = model[payload["serial_number"]]
            live = [m for m in mine if not m[1]]
            if live:
                live[-1][0] = payload["city"]
            else:
                mine.append([payload["city"], False])
            continue
        serial, k = place[payload["refId"]]
        if k >= len(model[serial]):
            problems.append(f"row {row['id']} accepted before its record existed")
            continue
        target = model[serial][k]
        if row["operation"] == "update":
            if target[1]:
                problems.append(f"update {row['id']} of a deleted record was accepted")
            target[0] = payload["city"]
        else:
            target[1] = True
    differ = extra = 0
    for serial, records in end.items():
        got = [_state(r) for r in records]
        want = model[serial]
        extra += max(0, len(got) - len(want))
        differ += sum(1 for g, w in zip(got, want, strict=False) if g != w)
        differ += max(0, len(want) - len(got))
    return differ, extra, problems


def _wire_problems(
    wire: Wire, outbox: list[asyncpg.Record], superseded_after: dict[int, int]
) -> list[str]:
    """Nothing superseded sent by a later push; an accepted row sent successfully once, and
    never after that."""
    problems: list[str] = []
    token_of = {}
    for row in outbox:
        payload = orjson.loads(row["payload"])
        token_of[row["id"]] = payload.get("city") or payload.get("note")
    for row_id, push in superseded_after.items():
        later = [s for s in wire.sends if s.push > push and token_of[row_id] in s.tokens]
        if later:
            problems.append(f"superseded row {row_id} sent again by push {later[0].push}")
    for row in outbox:
        if row["state"] != "accepted":
            continue
        sends = [s for s in wire.sends if token_of[row["id"]] in s.tokens]
        ok = [i for i, s in enumerate(sends) if 200 <= s.status < 300]
        if len(ok) != 1 or ok[0] != len(sends) - 1:
            problems.append(
                f"accepted row {row['id']} sent {len(sends)} times, {len(ok)} successfully"
            )
    return problems


async def interleaved(lab: Lab, tally: Experiment, trials: int, records: int, seed: int) -> None:
    """19. Interleaved upserts, updates and deletes of the same keys across several pushes,
    with rejections."""
    states: Counter[str] = Counter()
    for trial in range(trials):
        rng = random.Random(f"{seed}:push-order:{trial}")
        wire = Wire()
        url, sb, runner = await _serve(
            wire,
            master_records=records,
            seed=seed + trial,
            module_records=10,
            users=5,
            projects=2,
            rate_limit=0,
        )
        try:
            outcome, seen = await _trial(lab, rng, wire, url, sb)
        finally:
            await runner.cleanup()
        tally.add(outcome)
        states += seen
    shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    tally.notes.append(f"{trials} trials of {PUSHES + 1} pushes: outbox rows ended {shown}")


async def _trial(
    lab: Lab, rng: random.Random, wire: Wire, url: str, sb: ExtoSandbox
) -> tuple[Outcome, Counter[str]]:
    outcome = Outcome()
    user = next(u["user"]["userName"] for u in sb.data.users if u["user"]["status"] == 1)
    options = {"unique:LOCATION": "serial_number", "user_name": user}
    config = str(lab.config(url, options=options))
    db_url = await lab.database()
    pulled = await run("sync", "--config", config, env=env(db_url))
    if pulled.code != 0:
        outcome.problems.append(f"first pull exited {pulled.code}: {pulled.err[-200:]}")
        return outcome, Counter()
    existing = [
        r["customFields"]["serial_number"] for r in rng.sample(sb.records("master"), EXISTING_KEYS)
    ]
    serials = existing + [9_900_000 + i for i in range(NEW_KEYS)]
    start = _by_serial(sb, set(serials))
    counter = [0]
    superseded_after: dict[int, int] = {}
    for push in range(1, PUSHES + 2):
        if push <= PUSHES:
            await _enqueue(db_url, _queue(rng, sb, serials, counter))
        # names refused one by one: a record's update (by refId) may fail while its upsert
        # (by serial number) lands, the case where supersession matters
        names = [str(s) for s in serials]
        names += [r["refId"] for records in _by_serial(sb, set(serials)).values() for r in records]
        refused = [name for name in names if rng.random() < REFUSED_SHARE and push <= PUSHES]
        sb.config.reject_keys = tuple(sorted(refused))
        wire.push = push
        done = await run("push", "--config", config, env=env(db_url))
        if done.code not in (0, 3):
            outcome.problems.append(f"push {push} exited {done.code}: {done.out[-300:]}")
        for row in await _outbox(db_url):
            if row["state"] == "superseded":
                superseded_after.setdefault(row["id"], push)
    sb.config.reject_keys = ()
    outbox = await _outbox(db_url)
    differ, extra, problems = _expected_problems(start, _by_serial(sb, set(serials)), outbox)
    outcome.stale += differ
    outcome.duplicated += extra
    outcome.problems += problems + _wire_problems(wire, outbox, superseded_after)
    final = await run("sync", "--config", config, env=env(db_url))
    if final.code != 0:
        outcome.problems.append(f"final pull exited {final.code}: {final.err[-200:]}")
    found = await compare(db_url, Expected.of(sb.records("master")))
    found.stale += outcome.stale
    found.duplicated += outcome.duplicated
    found.problems += outcome.problems
    return found, Counter(r["state"] for r in outbox)


SPECS = [
    Spec(
        19,
        "interleaved upserts, updates and deletes of the same keys across pushes, with rejections",
        {"full": (10, 500), "fast": (2, 200)},
        interleaved,
    )
]
