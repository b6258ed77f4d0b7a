"""Pages remembered by the digest of their body: an unchanged page is not decoded twice.

A nightly re-sync reads mostly pages byte for byte equal to the last night's. Decoding one
(parsing, validating, hashing 1,000 records and reading their fields) costs about 17 ms of a
worker's CPU; its digest costs under 1 ms. So a full pass remembers what each page decoded to
(syncer.page_memo: keys, content hashes, paging and fields, never the records' text), and a
page whose body digest is remembered comes back "hollow": its rows carry keys and hashes but
no text. The merge compares those hashes with the mirror's live rows, as it does for any page
(mirror.merge), inside the page's transaction: rows equal to the mirror need no text; a row
that differs (the mirror changed since, or a key the page before still merges) has the page
decoded from its body after all (`Refill`). The memo is only ever a shortcut to what decoding
the same body gives: the digest covers the decoder's settings (vendor, stream, options, the
stream's exclude and hash lists and their key's check) and MEMO_VERSION.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from itertools import repeat
from typing import Any

import orjson
import structlog

import syncer
from syncer.mirror import Mirror, Remembered
from syncer.records import HASH_BYTES, Prepared, Row, unpacked_hashes
from syncer.redact import Redaction
from syncer.workers import DecodedPage, MemoRequest, body_digest

log = structlog.get_logger(__name__)

#: part of every digest: raise it when decoding the same body would give something else
MEMO_VERSION = 1

#: a stream's decoder: (body, content hashes known for it, what remembering it needs) -> the
#: decoded page (workers.knowing_decoder)
Decode = Callable[[bytes, bytes, MemoRequest | None], Awaitable[DecodedPage]]


def settings_digest(
    vendor: str, stream: str, options: Mapping[str, str], redaction: Redaction | None
) -> bytes:
    """What decoding depends on besides the body, as a 32-byte key. The hash key of the
    stream's `hash` fields enters only through its check value, never as itself."""
    parts: list[Any] = [MEMO_VERSION, syncer.__version__, vendor, stream, sorted(options.items())]
    if redaction is not None:
        parts += [repr(redaction), redaction.key_check()]
    return hashlib.blake2b(orjson.dumps(parts), digest_size=32).digest()


class PageMemo:
    """One full pass's remembered pages: `decoder` recalls a page before decoding it and
    remembers what decoding gave; `finish` waits for the writes and prunes."""

    def __init__(
        self,
        mirror: Mirror,
        stream_id: int,
        settings: bytes,
        *,
        recall: bool,
        future: datetime,
    ) -> None:
        self.mirror = mirror
        self.stream_id = stream_id
        self.settings = settings
        #: False on a first load: nothing in an empty table can equal a page, so none is
        #: recalled (the pages are still remembered, for the next pass)
        self.recall = recall
        #: a page holding an updated-at past this is never recalled: read.py counts such
        #: stamps from the decoded rows
        self.future = future
        self.seen: set[bytes] = set()
        self.recalled = 0

    def decoder(self, decode: Decode, position: Any) -> Callable[[bytes], Awaitable[DecodedPage]]:
        """`decode` for the page read at `position`: a remembered page comes back hollow; any
        other is decoded knowing the hashes of the page remembered at its position, and
        remembered."""
        where = orjson.dumps(position, default=str).decode()

        async def bound(body: bytes) -> DecodedPage:
            if not self.recall:
                # a first load: the digest is taken by the worker, with the rest to remember
                decoded = await decode(body, b"", MemoRequest(self.settings, None, where))
                if decoded.remember is not None:
                    self.seen.add(decoded.remember.digest)
                return decoded
            digest = body_digest(body, self.settings)
            self.seen.add(digest)
            found = await self.mirror.memo.recall(self.stream_id, digest, where)
            if found is not None and found.page is not None:
                page = hollow(found.page, body, self.future)
                if page is not None:
                    self.recalled += 1
                    return page
            known = b"" if found is None else found.hashes
            return await decode(body, known, MemoRequest(self.settings, digest, where))

        return bound

    async def finish(self, *, prune: bool) -> None:
        """With `prune` (the pass was read whole, from its first page), forget the stream's
        pages this pass did not see."""
        if prune:
            await self.mirror.memo.prune(self.stream_id, self.seen)
        log.debug("memo.pass", recalled=self.recalled, pages=len(self.seen))


def hollow(found: Remembered, body: bytes, future: datetime) -> DecodedPage | None:
    """The remembered page as a DecodedPage whose rows carry no text (None: decode it, since
    it holds an updated-at past `future`, or was not written the way this version reads)."""
    rest = orjson.loads(found.page)
    newest = None if rest["newest"] is None else datetime.fromisoformat(rest["newest"])
    if newest is not None and newest > future:
        return None
    keys = orjson.loads(found.keys)
    hashes = found.hashes
    if len(hashes) != HASH_BYTES * len(keys):
        return None
    rows = list(map(Row, keys, repeat(""), unpacked_hashes(hashes), repeat(None)))
    fields = {(tuple(path), kind) for path, kind in rest["fields"]}
    paths = frozenset(tuple(path) for path in rest["paths"])
    prepared = Prepared(
        rows, [], fields, rest["duplicates"], hollow=True, stamp=newest, paths=paths
    )
    fingerprint = rest["fingerprint"]
    return DecodedPage(
        rest["records"],
        rest["items"],
        rest["total_pages"],
        rest["next_cursor"],
        rest["paginated"],
        prepared,
        rest["body_bytes"],
        rest["total_records"],
        None if fingerprint is None else bytes.fromhex(fingerprint),
        source=body,
    )


def refill(decode: Decode, page: DecodedPage) -> Callable[[], Awaitable[Prepared]] | None:
    """For a hollow page, what decodes it from its body after all (None for any other)."""
    source = page.source
    if source is None:
        return None

    async def decoded() -> Prepared:
        return (await decode(source, b"", None)).prepared

    return decoded
