"""`mirror.memo`: what full passes' pages decoded to, by the digest of their body (the table
syncer.page_memo; syncer.memo decides what goes in and what comes out). A page is written with
its merge (mirror.merge, `MemoEntry`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from syncer.mirror.base import Part, translate_errors
from syncer.sql import queries


@dataclass(frozen=True)
class Remembered:
    """A page as remembered: its keys (a JSON array), their content hashes (16 bytes each, in
    the keys' order) and the rest of it (a JSON object, syncer.memo's)."""

    keys: str
    hashes: bytes
    page: str


@dataclass(frozen=True)
class Recalled:
    """What a page's recall found: the page itself (`page`), or only the content hashes of
    the page remembered at its position (`hashes`)."""

    page: Remembered | None
    hashes: bytes


class Memos(Part):
    """Reading and pruning remembered pages."""

    async def recall(self, stream_id: int, digest: bytes, position: str) -> Recalled | None:
        with translate_errors("reading a remembered page"):
            row = await self.pool.fetchrow(queries["recall_page"], stream_id, digest, position)
        if row is None:
            return None
        if not row["same"]:
            return Recalled(None, row["hashes"])
        return Recalled(Remembered(row["keys"], row["hashes"], row["page"]), row["hashes"])

    async def prune(self, stream_id: int, seen: Collection[bytes]) -> None:
        """Forget the stream's pages whose digest is not among `seen` (a full pass's)."""
        with translate_errors("pruning remembered pages"):
            await self.pool.execute(queries["prune_pages"], stream_id, list(seen))
