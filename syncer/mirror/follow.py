"""The mirrored records a push reads and follows: records by a field's value (to place an
outbox row on its record, to merge an emulated upsert), and the deletes a pushed delete makes
in the mirror. Every query is a named one (syncer/sql/queries.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from syncer.mirror.base import Fence, Part, translate_errors
from syncer.sql import for_table


class Follow(Part):
    """`mirror.follow`: what pushes read from, and mark in, the mirror's tables."""

    async def records_named(
        self, table: str, path: Sequence[str], values: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """value -> {mirror key (`_pk`): the mirrored record, None where the mirror marked it
        deleted} of every mirrored record whose field at `path` holds that value (as text)."""
        with translate_errors(f"reading mirror.{table}"):
            rows = await self.pool.fetch(
                for_table("records_named", table), list(path), list(values)
            )
        found: dict[str, dict[str, Any]] = {}
        for r in rows:
            data = None if r["data"] is None else orjson.loads(r["data"])
            found.setdefault(r["value"], {})[r["_pk"]] = data
        return found

    async def records_by_field(
        self, table: str, path: Sequence[str], values: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The live mirrored records whose field at `path` holds one of `values` (as text)."""
        with translate_errors(f"reading mirror.{table}"):
            rows = await self.pool.fetch(
                for_table("records_by_field", table), list(path), list(values)
            )
        return {r["key"]: orjson.loads(r["_data"]) for r in rows}

    async def delete_by_field(
        self,
        table: str,
        path: Sequence[str],
        values: Sequence[str],
        run_id: int,
        fence: Fence | None = None,
    ) -> int:
        """Mark deleted the live mirrored records whose field at `path` holds one of `values`."""
        with translate_errors(f"marking deletes in mirror.{table}"):
            async with self.fenced(fence) as conn:
                status = await conn.execute(
                    for_table("delete_by_field", table), list(path), list(values), run_id
                )
        return int(status.split()[-1])

    async def delete_keys(
        self, table: str, keys: Sequence[str], run_id: int, fence: Fence | None = None
    ) -> int:
        """Mark deleted the live mirrored records of `keys` (their `_pk`): a pushed delete."""
        with translate_errors(f"marking deletes in mirror.{table}"):
            async with self.fenced(fence) as conn:
                status = await conn.execute(for_table("soft_delete", table), list(keys), run_id)
        return int(status.split()[-1])
