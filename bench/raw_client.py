"""The raw client syncer is measured against: what a competent engineer would write by hand to
keep a Postgres copy of Exto's master:LOCATION, and nothing more.

Pages fetched with aiohttp, eight in flight, parsed with orjson; each page COPYed into a temp
stage and merged into a logged table keyed on `_id` (only rows whose JSON differs are written),
page by page in one transaction each. No checkpoints, no deletes, no typed views, no run
records, no quarantine. Runs in its own process; prints one JSON line.

usage: python bench/raw_client.py DATABASE_URL BASE_URL
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import asyncpg
import orjson

PAGE = 1000
WINDOW = 8
TOKEN = "sandbox-token"

SETUP = """
CREATE TABLE IF NOT EXISTS raw_mirror (pk text PRIMARY KEY, data jsonb NOT NULL);
CREATE TEMP TABLE raw_stage (pk text, data jsonb) ON COMMIT DELETE ROWS;
"""

MERGE = """
INSERT INTO raw_mirror AS m (pk, data) SELECT pk, data FROM raw_stage
ON CONFLICT (pk) DO UPDATE SET data = EXCLUDED.data WHERE m.data IS DISTINCT FROM EXCLUDED.data
"""


async def main(database_url: str, base: str) -> None:
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    await conn.execute(SETUP)
    url = base + "/api/v1/master-record/LOCATION"
    written = total = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:

        async def fetch(page: int) -> list[dict[str, Any]]:
            params = {"page": str(page), "pageSize": str(PAGE), "sort": "_id"}
            async with session.get(url, params=params) as resp:
                resp.raise_for_status()
                rows: list[dict[str, Any]] = orjson.loads(await resp.read())["rows"]
                return rows

        tasks = {p: asyncio.ensure_future(fetch(p)) for p in range(1, WINDOW + 1)}
        page = 1
        while True:
            rows = await tasks.pop(page)
            if rows:
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "raw_stage",
                        records=[(r["_id"], orjson.dumps(r).decode()) for r in rows],
                    )
                    status = await conn.execute(MERGE)
                written += int(status.split()[-1])
                total += len(rows)
            if len(rows) < PAGE:
                break
            tasks[page + WINDOW] = asyncio.ensure_future(fetch(page + WINDOW))
            page += 1
        for task in tasks.values():
            task.cancel()
    await conn.close()
    seconds = time.perf_counter() - started
    print(orjson.dumps({"seconds": seconds, "records": total, "written": written}).decode())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
