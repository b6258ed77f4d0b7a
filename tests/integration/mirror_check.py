"""Compare the mirror with the sandbox: same live key set, same content hash per key."""

from __future__ import annotations

from typing import Any

import asyncpg

from syncer.connectors.registry import CONNECTORS
from syncer.records import content_hash


def expected(
    records: list[dict[str, Any]],
    stream_name: str,
    vendor: str = "exto",
    options: dict[str, str] | None = None,
) -> dict[str, bytes]:
    """key -> hash of what the vendor holds, computed the way syncer computes it."""
    spec = CONNECTORS[vendor].stream(stream_name, options or {})
    rows = spec.extract(records).records if stream_name == "groups" else records
    out: dict[str, bytes] = {}
    for record in rows:
        key = spec.key(record)
        assert key is not None
        out[key] = content_hash(record)
    return out


async def live(db: asyncpg.Connection, table: str) -> dict[str, bytes]:
    rows = await db.fetch(f'SELECT _pk, _hash FROM mirror."{table}" WHERE _deleted_at IS NULL')
    return {r["_pk"]: bytes(r["_hash"]) for r in rows}


async def assert_mirror_equals(
    db: asyncpg.Connection,
    table: str,
    records: list[dict[str, Any]],
    stream_name: str,
    vendor: str = "exto",
    options: dict[str, str] | None = None,
) -> None:
    want = expected(records, stream_name, vendor, options)
    got = await live(db, table)
    missing = want.keys() - got.keys()
    extra = got.keys() - want.keys()
    differ = [k for k in want.keys() & got.keys() if want[k] != got[k]]
    assert not missing and not extra and not differ, (
        f"{len(missing)} missing, {len(extra)} extra, {len(differ)} differ "
        f"(e.g. {sorted(missing)[:3]} {sorted(extra)[:3]} {differ[:3]})"
    )
