"""History's cost: the 1%-changed re-sync of 300,000 Exto master records with `history = true`
against the same re-sync without it, side by side in one run (target: at most 1.1x), and the
unchanged re-sync with history on (0 history rows; its WAL bytes beside those without history:
the WAL records of the database's own relations where pg_walinspect can be had, else the least
of a few tries of the server's whole WAL, other sessions' included).
Where the bench may set track_functions (a superuser), it also prints the time Postgres spent in
the history triggers: the cost of history itself, whatever the load around the runs.

One sandbox in its own process; two fresh databases first loaded from it, one with history on
for master:LOCATION and one without. Each round moves the sandbox on by one generation (1%
changed, nothing deleted or inserted) and re-syncs both databases against that same data, the
order alternating from round to round so neither side always runs on a warmer cache. The ratio
is that of the summed seconds (each round's is printed too: a shared machine's load varies).
Part of `make bench` (bench/run.py calls `measure_history`); runnable alone:
`python bench/history.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg
import common  # bench/common.py, beside this file
import orjson

RECORDS = 300_000
ROUNDS = 5
UNCHANGED_TRIES = 3
STREAM = "master:LOCATION"


def _config(base: str, history: bool) -> str:
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": base,
        "token_env": "SYNCER_BENCH_TOKEN",
        "rate_limit": 100_000,
        "streams": [STREAM],
        "per_stream": {STREAM: {"history": history}},
    }
    return orjson.dumps({"connections": [connection]}).decode()


async def _sync(database_url: str, base: str, history: bool) -> float:
    """Seconds of one run in its own process (it must succeed)."""
    result = await common.sync_once_any(database_url, "--config", _config(base, history))
    if result["status"] != "succeeded":
        raise RuntimeError(f"syncer run failed: {result['error']}")
    return float(result["seconds"])


async def _history_rows(database_url: str) -> int:
    return int(
        await common.scalar(
            database_url, "SELECT count(*) FROM mirror_history.exto__master_location"
        )
    )


async def _unchanged(database_url: str, base: str, history: bool) -> tuple[float, int]:
    """An unchanged re-sync: its seconds and the WAL bytes written meanwhile to this
    database's relations (pg_walinspect: the records whose blocks are in the database; a
    temporary replication slot keeps the segments until they are read, and goes with the
    session), or, without them, all the server's WAL meanwhile, other sessions' included."""
    await common.settle(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        own = await _walinspect(conn)
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
        seconds = await _sync(database_url, base, history)
        if own:
            wal = await conn.fetchval(
                "SELECT coalesce(sum(record_length), 0) FROM pg_get_wal_records_info("
                "$1::text::pg_lsn, pg_current_wal_flush_lsn()) "
                "WHERE block_ref LIKE '%/' || "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) || '/%'",
                lsn,
            )
        else:
            wal = await conn.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", lsn
            )
    finally:
        await conn.close()
    return seconds, int(wal)


async def _walinspect(conn: asyncpg.Connection) -> bool:
    """pg_walinspect, and a temporary slot holding the WAL from now on (a superuser's)."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        await conn.execute(
            "SELECT pg_create_physical_replication_slot("
            "'syncer_bench_history_' || pg_backend_pid(), true, true)"
        )
    except asyncpg.PostgresError:
        return False
    return True


async def _time_functions(database_url: str) -> bool:
    """Have Postgres time the triggers' functions in this database (track_functions: a
    superuser's setting; without it the figure is left out). The time they took is the cost
    of history itself, free of the load of the machine around the runs."""
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'")
        return True
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()


async def _trigger_ms(database_url: str) -> float | None:
    """Milliseconds the history triggers' functions ran since the last reset, or None."""
    value = await common.scalar(
        database_url,
        "SELECT sum(total_time) FROM pg_stat_user_functions "
        "WHERE schemaname = 'syncer' AND funcname LIKE 'history\\_%'",
    )
    return None if value is None else float(value)


async def _reset_function_stats(database_url: str) -> None:
    await common.scalar(database_url, "SELECT pg_stat_reset()")


async def _generation(root: str) -> None:
    body = {"change_pct": 1.0, "delete_pct": 0.0, "insert_pct": 0.0}
    async with (
        aiohttp.ClientSession() as session,
        session.post(root + "/_sandbox/generation", json=body) as resp,
    ):
        resp.raise_for_status()


async def measure_history(admin: str) -> dict[str, Any]:
    port = common.free_port()
    sandbox = common.start_sandbox(RECORDS, port)
    base = f"http://127.0.0.1:{port}/data"
    figures: dict[str, Any] = {}
    try:
        await common.wait_ready(base)
        await common.warm(base)
        plain = await common.fresh_database(admin, "syncer_bench_history_off")
        kept = await common.fresh_database(admin, "syncer_bench_history_on")
        figures["history_trigger_timed"] = await _time_functions(kept)
        figures["history_first_load_s_off"] = await _sync(plain, base, False)
        figures["history_first_load_s_on"] = await _sync(kept, base, True)

        # without pg_walinspect, WAL is counted for the whole server: the least of a few tries
        rows_before = await _history_rows(kept)
        await _reset_function_stats(kept)
        unchanged: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
        for n in range(UNCHANGED_TRIES):
            for history in (False, True) if n % 2 == 0 else (True, False):
                tried = await _unchanged(kept if history else plain, base, history)
                unchanged[history].append(tried)
        await asyncio.sleep(1)
        trigger_ms = await _trigger_ms(kept)
        figures["history_unchanged_trigger_ms"] = (
            trigger_ms / UNCHANGED_TRIES if trigger_ms is not None else None
        )
        for history, side in ((False, "off"), (True, "on")):
            figures[f"history_unchanged_s_{side}"] = min(t[0] for t in unchanged[history])
            figures[f"history_unchanged_wal_{side}"] = min(t[1] for t in unchanged[history])
        figures["history_unchanged_rows"] = await _history_rows(kept) - rows_before

        await _reset_function_stats(kept)
        changed = {False: 0.0, True: 0.0}
        ratios = []
        rows_before = await _history_rows(kept)
        for n in range(ROUNDS):
            await _generation(base.removesuffix("/data"))
            order = (False, True) if n % 2 == 0 else (True, False)
            seconds = {}
            for history in order:
                seconds[history] = await _sync(kept if history else plain, base, history)
                changed[history] += seconds[history]
            ratios.append(seconds[True] / seconds[False])
        figures["history_changed_ratios"] = ratios
        await asyncio.sleep(1)  # the runs' backends report their function times as they end
        trigger_ms = await _trigger_ms(kept)
        figures["history_trigger_ms"] = trigger_ms / ROUNDS if trigger_ms is not None else None
        figures["history_changed_s_off"] = changed[False] / ROUNDS
        figures["history_changed_s_on"] = changed[True] / ROUNDS
        figures["history_changed_ratio"] = changed[True] / changed[False]
        figures["history_changed_rows"] = (await _history_rows(kept) - rows_before) / ROUNDS
    finally:
        sandbox.terminate()
        sandbox.wait()
    return figures


def report(f: dict[str, Any]) -> None:
    print(
        f"history, 1% changed re-sync {f['history_changed_s_on']:.2f} s with history on, "
        f"{f['history_changed_s_off']:.2f} s without: ratio {f['history_changed_ratio']:.3f} "
        f"(target <= 1.1; mean of {ROUNDS} rounds, {f['history_changed_rows']:,.0f} versions "
        f"each; per round {', '.join(f'{r:.2f}' for r in f['history_changed_ratios'])})"
    )
    if f.get("history_trigger_ms") is not None:
        share = f["history_trigger_ms"] / 1000 / f["history_changed_s_off"]
        print(
            f"history, the triggers' own time in a 1% changed re-sync: "
            f"{f['history_trigger_ms']:,.0f} ms ({share:.1%} of the re-sync without history)"
        )
    print(
        f"history, unchanged re-sync  {f['history_unchanged_rows']:,} history rows, "
        f"{f['history_unchanged_wal_on']:,} WAL bytes with history on, "
        f"{f['history_unchanged_wal_off']:,} without (target 0 rows; the least of "
        f"{UNCHANGED_TRIES} tries); {f['history_unchanged_s_on']:.2f} s against "
        f"{f['history_unchanged_s_off']:.2f} s"
    )
    if f.get("history_unchanged_trigger_ms") is not None:
        print(
            "history, the triggers' own time in an unchanged re-sync: "
            f"{f['history_unchanged_trigger_ms']:,.1f} ms"
        )
    print(
        f"history, first load         {f['history_first_load_s_on']:.1f} s with history on, "
        f"{f['history_first_load_s_off']:.1f} s without ({RECORDS:,} records)"
    )


if __name__ == "__main__":
    common.standalone(measure_history, report)
