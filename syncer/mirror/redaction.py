"""A change of a stream's `exclude` or `hash` lists is a schema change: the run that starts
with other lists than the stream's last run records each path added or removed in
syncer.schema_changes (`excluded`, `included`, `hashed`, `unhashed`), and brings the rows
already stored in line before it reads a page, in one transaction: a newly excluded value is
removed and a newly hashed one hashed, in mirror.<table> and in mirror_history.<table> when the
stream keeps history. `_hash` is recomputed from the row as it now stands, the hash the next
read computes for the same record: an unchanged record costs no write afterwards.

A path taken off a list cannot be restored from the mirror (the value was never kept): the
next full pass brings it back, each record's hash differing from the stored one.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson
import structlog
from asyncpg.pool import PoolConnectionProxy

from syncer import names, records
from syncer.mirror.base import Fence, Part, StreamRef, translate_errors
from syncer.redact import Redaction, parse_path
from syncer.sql import for_table, queries

log = structlog.get_logger(__name__)

#: rows read and rewritten per round trip
BATCH = 1_000

_DETAIL = {
    "excluded": "{path} is now excluded: never stored, never in the hash; removed from stored rows",
    "included": "{path} is no longer excluded: the next full pass brings its values back",
    "hashed": "{path} is now stored as a keyed hash (HMAC-SHA256, hex); stored values hashed",
    "unhashed": "{path} is no longer hashed: the next full pass brings its plain values back",
    "rekeyed": "{path} is hashed with a new key: the next full pass stores the new hashes",
}


class Lists(Part):
    """A stream's `exclude` and `hash` lists, as its last run had them."""

    async def bring_in_line(
        self,
        ref: StreamRef,
        run_id: int,
        exclude: Sequence[str],
        hashed: Sequence[str],
        redaction: Redaction | None,
        fence: Fence | None = None,
    ) -> list[tuple[str, str]]:
        """Record how the lists changed since the stream's last run and rewrite the stored
        rows to match; returns the (kind, path) changes, none when the lists are the same. A
        new hash key is a `hashed` change of each hashed path (the stored hashes cannot be
        redone without the values: the next full pass rewrites them)."""
        with translate_errors(f"applying the exclude and hash lists of {ref.stream}"):
            async with self.fenced(fence) as conn:
                row = await conn.fetchrow(queries["redaction_lists"], ref.stream_id)
                before_ex = list(row["exclude"]) if row else []
                before_h = list(row["hashed"]) if row else []
                check = redaction.key_check() if redaction is not None else None
                old_check = row["key_check"] if row else None
                rekeyed = None not in (old_check, check) and old_check != check
                changes = [
                    *(("excluded", p) for p in exclude if p not in before_ex),
                    *(("included", p) for p in before_ex if p not in exclude),
                    *(("hashed", p) for p in hashed if p not in before_h),
                    *(("unhashed", p) for p in before_h if p not in hashed),
                    *(("rekeyed", p) for p in hashed if p in before_h and rekeyed),
                ]
                if not changes:
                    return []
                lists = redaction.lists if redaction is not None else ()
                await conn.executemany(
                    queries["record_list_change"],
                    [
                        (
                            ref.stream_id,
                            run_id,
                            "hashed" if kind == "rekeyed" else kind,
                            field_path(path, lists),
                            _DETAIL[kind].format(path=path),
                        )
                        for kind, path in changes
                    ],
                )
                await conn.execute(
                    queries["save_redaction_lists"],
                    ref.stream_id,
                    list(exclude),
                    list(hashed),
                    check,
                )
                added = Redaction(
                    tuple(parse_path(p) for kind, p in changes if kind == "excluded"),
                    tuple(parse_path(p) for kind, p in changes if kind == "hashed"),
                    redaction.key if redaction is not None else b"",
                    redaction.lists if redaction is not None else (),
                )
                if added.exclude or added.hashed:
                    await _rewrite(conn, ref.table, added)
        return changes


def field_path(text: str, lists: tuple[tuple[str, str, str], ...]) -> list[str]:
    """A config path as syncer.stream_fields writes field paths, so a list change lines up with
    the field's column: `customFields.email` -> [customFields, email], Actito's
    `attributes[emailAddress]` -> [attributes[name].value, emailAddress]."""
    path = parse_path(text)
    if path.entry is None:
        return list(path.keys)
    if len(path.keys) == 1:
        name_key, value_key = next(
            ((n, v) for k, n, v in lists if k == path.keys[0]), ("name", "value")
        )
        return [f"{path.keys[0]}[{name_key}].{value_key}", path.entry]
    return [*path.keys, path.entry]


async def _rewrite(conn: PoolConnectionProxy[asyncpg.Record], table: str, added: Redaction) -> None:
    """Apply `added` to the stored rows holding one of its paths' first keys, history too."""
    heads = sorted({path.keys[0] for path in (*added.exclude, *added.hashed)})
    updates: list[tuple[object, ...]] = []
    async for row in conn.cursor(for_table("rows_holding", table), heads, prefetch=BATCH):
        data = orjson.loads(row["data"])
        new = added.apply(data)
        if new != data:
            updates.append((row["_pk"], records.canonical(new).decode(), records.content_hash(new)))
        if len(updates) >= BATCH:
            await conn.executemany(for_table("rewrite_row", table), updates)
            updates.clear()
    await conn.executemany(for_table("rewrite_row", table), updates)
    columns = {
        r["attname"]
        for r in await conn.fetch(
            queries["history_columns"], f"mirror_history.{names.quote(table)}"
        )
    }
    if "_data" not in columns:
        if columns:  # a history table of another shape: say so rather than skip it quietly
            log.warning("history.not_redacted", table=f"mirror_history.{table}")
        return
    with_hash = "_hash" in columns
    history: list[tuple[object, ...]] = []
    async for row in conn.cursor(for_table("history_rows_holding", table), heads, prefetch=BATCH):
        data = orjson.loads(row["data"])
        new = added.apply(data)
        if new != data:
            text = records.canonical(new).decode()
            extra = (records.content_hash(new),) if with_hash else ()
            history.append((row["ctid"], text, *extra))
    query = "rewrite_history_row" if with_hash else "rewrite_history_data"
    await conn.executemany(for_table(query, table), history)
