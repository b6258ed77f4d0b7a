"""Push speed (issue 15): 10,000 outbox rows upserted to Exto at its 3 requests/s, the mirror
equal to the vendor afterwards, against the ideal (10 upserts of 1,000 rows: 3.3 s) and the
floor Exto's API sets (those 10 upserts plus 10 read-backs of 1,000 records, since an upsert's
answer carries no record and no page holds more than 1,000: 20 requests, 6.7 s; BENCHMARKS.md
"Push: the vendor's floor").

Three pushes against one sandbox in this process (rate limit 3/s, request targets up to 8,192
characters, answered 414 beyond; syncer keeps its own below 8,000): serial numbers 2,000,000..
with read-back (the figure; runs of integers are read back by range), the same count again
without read-back (`push_read_back = false`), and 10,000 string codes with read-back (listed
keys: as many per URL as 8,000 characters allow). After each push with read-back, every pushed
key's mirrored record is compared with the vendor's.
Part of `make bench` (bench/run.py calls `measure_push`); runnable alone: `python bench/push.py`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from common import TOKEN, free_port, fresh_database, standalone  # bench/common.py, beside this

from syncer import push
from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, ExtoSandbox, create_app
from syncer.settings import Config

ROWS = 10_000
RATE = 3
#: Exto's most rows per upsert and records per page
BATCH = 1000


async def _enqueue(database_url: str, field: str, keys: list[Any]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO syncer.outbox (connection, endpoint, payload) "
            "VALUES ('exto', 'master:LOCATION', $1::jsonb)",
            [(orjson.dumps({field: k, "name": f"Pushed {k}"}).decode(),) for k in keys],
        )
    finally:
        await conn.close()


def _config(port: int, unique: str, read_back: bool) -> Config:
    return Config.model_validate(
        {
            "connections": [
                {
                    "name": "exto",
                    "vendor": "exto",
                    "base_url": f"http://127.0.0.1:{port}/data",
                    "token_env": "SYNCER_BENCH_TOKEN",
                    "rate_limit": RATE,
                    "streams": ["master:LOCATION"],
                    "options": {"unique:LOCATION": unique},
                    "push_read_back": read_back,
                }
            ]
        }
    )


async def _equal_to_vendor(database_url: str, sb: ExtoSandbox, field: str, keys: list[Any]) -> int:
    """How many pushed keys have a mirrored record equal to the vendor's, field for field."""
    vendor = {
        str(r["customFields"].get(field)): r
        for r in sb.records("master", "LOCATION")
        if not r.get("isDeleted")
    }
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT _data->'customFields'->>$1 AS key, _data::text AS data "
            "FROM mirror.exto__master_location",
            field,
        )
    finally:
        await conn.close()
    mirrored = {r["key"]: orjson.loads(r["data"]) for r in rows}
    return sum(1 for k in map(str, keys) if k in mirrored and mirrored[k] == vendor.get(k))


async def _push(
    database_url: str, sb: ExtoSandbox, port: int, field: str, keys: list[Any], read_back: bool
) -> dict[str, Any]:
    """One push of `keys` (new rows of `field`); its seconds, requests and outcome."""
    await _enqueue(database_url, field, keys)
    sb.reset_log()
    started = time.perf_counter()
    [result] = await push.push(_config(port, field, read_back), database_url)
    seconds = time.perf_counter() - started
    log = sb.request_log
    figures = {
        "seconds": seconds,
        "accepted": result.accepted,
        "posts": sum(1 for e in log if e.method == "POST"),
        "read_backs": sum(1 for e in log if e.method == "GET"),
        "status_414": sum(1 for e in log if e.status == 414),
        "status_429": sum(1 for e in log if e.status == 429),
    }
    if read_back:
        figures["mirror_equal"] = await _equal_to_vendor(database_url, sb, field, keys)
    return figures


async def measure_push(admin: str) -> dict[str, Any]:
    """The three pushes, with the ideal and the API floor."""
    app = create_app(
        ExtoConfig(
            master_records=1000,
            module_records=1,
            users=1,
            projects=1,
            rate_limit=RATE,
            # `code`: a second unique field no generated record has, so it takes strings
            unique_fields={"LOCATION": ("serial_number", "code")},
        )
    )
    sb = app[EXTO_KEY]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    os.environ["SYNCER_BENCH_TOKEN"] = TOKEN
    database_url = await fresh_database(admin, "syncer_bench_push")
    upserts = math.ceil(ROWS / BATCH)
    try:
        serials = list(range(2_000_000, 2_000_000 + ROWS))
        ranged = await _push(database_url, sb, port, "serial_number", serials, True)
        lean_keys = [k + 100_000 for k in serials]
        lean = await _push(database_url, sb, port, "serial_number", lean_keys, False)
        codes = [f"LOC-{i:06d}" for i in range(ROWS)]
        listed = await _push(database_url, sb, port, "code", codes, True)
    finally:
        await runner.cleanup()
    return {
        "rows": ROWS,
        "rate": RATE,
        "max_url_chars": sb.config.max_url_chars,
        "ideal_seconds": upserts / RATE,
        # an upsert answer carries no record, a page at most 1,000: one read per upsert
        "api_floor_seconds": 2 * upserts / RATE,
        "ranged": ranged,
        "lean": lean,
        "listed": listed,
    }


def report(f: dict[str, Any]) -> None:
    ideal, floor = f["ideal_seconds"], f["api_floor_seconds"]
    rows, rate = f["rows"], f["rate"]

    def line(name: str, p: dict[str, Any]) -> None:
        equal = f", mirror = vendor for {p['mirror_equal']:,}" if "mirror_equal" in p else ""
        print(
            f"  {name:<27} {p['seconds']:5.1f} s: {p['posts']} upserts + "
            f"{p['read_backs']} read-backs, {p['status_414']} 414s, {p['status_429']} 429s, "
            f"{p['accepted']:,} accepted{equal}; {p['seconds'] / ideal:.2f}x the ideal, "
            f"{p['seconds'] / floor:.2f}x the floor"
        )

    print(
        f"push {rows:,} rows at {rate} req/s: ideal {ideal:.1f} s ({rows // BATCH} upserts), "
        f"API floor {floor:.1f} s (+ {rows // BATCH} read-backs of {BATCH:,}: no read returns "
        f"more, no upsert answer carries the records; 2.00x the ideal); "
        f"URLs up to {f['max_url_chars']:,} characters"
    )
    line("serial numbers (ranges)", f["ranged"])
    line("string codes (listed)", f["listed"])
    line("without read-back", f["lean"])


if __name__ == "__main__":
    standalone(measure_push, report)
