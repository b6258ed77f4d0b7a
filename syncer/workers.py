"""Decoding pages in worker processes: JSON parsing, hashing and validation of 1,000 records
cost about 25 ms of CPU under the GIL, which capped one process at about 25,000 records/s while
Postgres still had a core to spare. Workers take a page's bytes and return prepared rows.

Small bodies are decoded on the event loop instead: a process hop costs more than it saves for
them (under 64 KB: about 2 ms of CPU). Not in a thread: a thread of this process holding the
GIL can delay a request between the moment the pacing gate stamps its send and the moment its
bytes leave (by up to the interpreter's 5 ms switch interval), so two requests reach the vendor
closer together than the gate spaced them, and a token bucket without burst answers 429
(measured with bench/limits.py's pages of 50, send stamps beside the sandbox's arrival times:
with a thread, sends up to 2.2 ms late and one run in four drew a 429; on the loop, at most
1.4 ms and none in four). Work on the loop only delays a stamp, never shortens a gap.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from typing import Any

import orjson

from syncer import errors, records
from syncer.connectors.registry import CONNECTORS
from syncer.redact import Redaction

#: bodies smaller than this are decoded in a thread of the calling process
INLINE_BYTES = 64 * 1024

_pool: ProcessPoolExecutor | None = None
#: the worker processes the pool has (warm sets it for each run)
_size = 1

#: workers run at a lower priority than the event loop: a paced send never waits for a core
WORKER_NICENESS = 10


@dataclass(frozen=True)
class DecodedPage:
    """A page parsed, extracted and prepared: everything the engine needs, and no raw records."""

    record_count: int
    item_count: int
    total_pages: int | None
    next_cursor: Any
    paginated: bool
    prepared: records.Prepared
    #: the size of the response body the page came from
    body_bytes: int = 0
    #: the vendor's count of records in the whole selection, when the page says it
    total_records: int | None = None
    #: which records the page held, in order (None for an empty page): a page whose
    #: fingerprint equals an earlier page's of the same pass is that page again
    fingerprint: bytes | None = None
    #: the body of a page recalled hollow (syncer.memo), kept to decode it should its merge
    #: need its rows' text after all; None for a decoded page
    source: bytes | None = None
    #: what the page's merge writes to syncer.page_memo (None: nothing)
    remember: records.MemoEntry | None = None


def decode_page(
    vendor: str,
    stream: str,
    options: Mapping[str, str],
    body: bytes,
    redaction: Redaction | None = None,
    known: bytes = b"",
    memo: MemoRequest | None = None,
) -> DecodedPage:
    """Parse and prepare one page (in a worker process, or on the event loop for small bodies).

    Raises ValueError when the body is not JSON, so the caller can retry the request. A body
    holding bytes that are not UTF-8 is JSON all the same: the records holding them are
    rejected for the quarantine, their neighbours prepared. `redaction` (the stream's `exclude`
    and `hash` fields, with the key) travels with each page: a worker reads no environment.
    `known`: content hashes (16 bytes each) the mirror held for the page last time
    (syncer.memo); the records having one come back without their text. With `memo`, a page
    without quarantined records comes back with what its merge remembers of it (`remember`),
    made here rather than on the event loop.
    """
    spec = CONNECTORS[vendor].stream(stream, options)
    parsed = records.parse_body(body)
    page = spec.extract(parsed.value)
    prepared = records.prepare(
        page.records,
        spec.key,
        spec.cursor_field,
        lenient=not parsed.strict,
        view=spec.view,
        bad_bytes=parsed.bad_bytes,
        redact=redaction.apply if redaction is not None else None,
        known=frozenset(records.unpacked_hashes(known)),
    )
    decoded = DecodedPage(
        len(page.records),
        page.item_count,
        page.total_pages,
        page.next_cursor,
        page.paginated,
        prepared,
        len(body),
        page.total_records,
        _fingerprint(prepared),
    )
    if memo is None or prepared.rejected:
        return decoded  # a page's rejected records are quarantined again each pass
    return dataclasses.replace(decoded, remember=memo_entry(decoded, body, memo))


@dataclass(frozen=True)
class MemoRequest:
    """What a decoded page needs to be remembered (syncer.memo): the key of the body's digest
    (the decoder's settings), the digest when already taken (else it is taken here), and
    where the page was read from (JSON)."""

    settings: bytes
    digest: bytes | None
    position: str


def body_digest(body: bytes, settings: bytes) -> bytes:
    """The digest a page is remembered by: blake2b-128 of its body, keyed by the settings."""
    return hashlib.blake2b(body, digest_size=16, key=settings).digest()


def memo_entry(page: DecodedPage, body: bytes, memo: MemoRequest) -> records.MemoEntry:
    """What is kept of a decoded page: everything but its rows' text and updated-at (its keys
    are the merge's own). syncer.memo.hollow reads it back."""
    rows = page.prepared.rows
    newest = page.prepared.newest
    rest = {
        "records": page.record_count,
        "items": page.item_count,
        "total_pages": page.total_pages,
        "next_cursor": page.next_cursor,
        "paginated": page.paginated,
        "body_bytes": page.body_bytes,
        "total_records": page.total_records,
        "fingerprint": None if page.fingerprint is None else page.fingerprint.hex(),
        "duplicates": page.prepared.duplicates,
        "newest": None if newest is None else newest.isoformat(),
        "fields": sorted([list(path), kind] for path, kind in page.prepared.fields),
        "paths": sorted(list(path) for path in page.prepared.seen_paths),
    }
    digest = memo.digest if memo.digest is not None else body_digest(body, memo.settings)
    hashes = records.packed_hashes(rows)
    return records.MemoEntry(digest, hashes, orjson.dumps(rest).decode(), memo.position)


def _fingerprint(prepared: records.Prepared) -> bytes | None:
    """A digest of the page's keys in order (records without a key by their raw text)."""
    if not prepared.rows and not prepared.rejected:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for row in prepared.rows:
        digest.update(row.key.encode("utf-8", "surrogatepass") + b"\x00")
    for bad in prepared.rejected:
        digest.update((bad.key or bad.raw).encode("utf-8", "surrogatepass") + b"\x01")
    return digest.digest()


async def decode(
    vendor: str,
    stream: str,
    options: Mapping[str, str],
    body: bytes,
    redaction: Redaction | None = None,
    known: bytes = b"",
    memo: MemoRequest | None = None,
) -> DecodedPage:
    """`decode_page`: in a worker process for large bodies, on the event loop for small ones."""
    args = (vendor, stream, dict(options), body, redaction, known, memo)
    if len(body) < INLINE_BYTES or _starting():
        # small, or the workers still starting (warm): a page waiting for them would stall
        # the run's first half second; decoding it here only delays a send, never hastens one
        return decode_page(*args)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_get_pool(), decode_page, *args)
    except BrokenProcessPool:
        _reset()
        raise errors.SyncerError(
            "a page-decoding worker process died (out of memory?); rerun to resume"
        ) from None


def decoder(
    vendor: str, stream: str, options: Mapping[str, str], redaction: Redaction | None = None
) -> Callable[[bytes], Awaitable[DecodedPage]]:
    """`decode` bound to one stream: what a fetch hands each page's body to."""

    async def bound(body: bytes) -> DecodedPage:
        return await decode(vendor, stream, options, body, redaction)

    return bound


def knowing_decoder(
    vendor: str, stream: str, options: Mapping[str, str], redaction: Redaction | None = None
) -> Callable[[bytes, bytes, MemoRequest | None], Awaitable[DecodedPage]]:
    """`decoder`, also given the content hashes known for each page and what remembering it
    needs (syncer.memo)."""

    async def bound(body: bytes, known: bytes, memo: MemoRequest | None) -> DecodedPage:
        return await decode(vendor, stream, options, body, redaction, known, memo)

    return bound


#: the workers' start in progress (warm), while pages are decoded on the event loop
_warming: asyncio.Task[None] | None = None


def _starting() -> bool:
    return _warming is not None and not _warming.done()


async def warm(size: int = 1) -> None:
    """Start `size` worker processes (`workers_for`) now, while a run connects and registers
    its streams: the forkserver's first fork waits for it to import syncer (half a second to a
    second on 2 cores), which the first pages would otherwise wait for; until then pages are
    decoded on the event loop. Errors are left to the first page that needs a worker."""
    global _warming, _size
    if _pool is not None and size != _size:
        _reset()  # a process that runs syncs one after another (a jobs worker): resized
    _size = size
    pool = _get_pool()  # here: the forkserver starts from the main thread (its signals)
    _warming = asyncio.current_task()
    try:
        with contextlib.suppress(Exception):
            # the first submit forks the workers, waiting for the forkserver: in a thread
            started = await asyncio.to_thread(pool.submit, os.getpid)
            await asyncio.wrap_future(started)
    finally:
        _warming = None


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # forkserver: workers never inherit this process's threads or event loop
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["syncer.workers"])
        _start_forkserver_deaf_to_ctrl_c()
        _pool = ProcessPoolExecutor(
            max_workers=_size,
            mp_context=context,
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )
        atexit.register(_reset)
    return _pool


def _start_forkserver_deaf_to_ctrl_c() -> None:
    """Start the forkserver with SIGINT ignored: the workers it forks inherit that, so a Ctrl-C
    that reaches the whole process group while a worker is still starting (before its
    initializer runs) cannot print a KeyboardInterrupt traceback from it. syncer's own process
    handles Ctrl-C (exit 130); its workers' decoding is cancelled with the run."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal dispositions can only be changed from the main thread
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch_parent(pid: int) -> None:
    """In each worker: exit once syncer's process is gone. A SIGKILLed syncer cannot shut its
    pool down, and its workers (children of the forkserver, not of syncer) would otherwise
    live on, holding its output pipes open. Ctrl-C is syncer's to handle: a worker ignores
    it (its decoding is cancelled with the run), so no worker prints a traceback. Decoding runs
    niced: the event loop's paced sends come first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was reused by another user's process
                os._exit(0)

    threading.Thread(target=watch, name="syncer-parent-watch", daemon=True).start()


#: a run whose connections together allow at least this many requests a second may decode in
#: two workers: its pages can come faster than one worker decodes them (about 17 ms for a page
#: of 1,000 Exto records), and its pacing gaps are too short for a late send to matter
TWO_WORKERS_FROM = 50.0


def workers_for(rate: float) -> int:
    """How many decoding workers a run whose vendors allow `rate` requests a second gets: one
    below TWO_WORKERS_FROM, else as many as the cores, at most two. Measured on 2 cores (issue
    15): two workers raised an unchanged re-sync from 24,730 to 39,748 records/s
    (bench/resync.py, no rate limit), but against a vendor limiting at 20 requests a second
    the event loop, with both busy, sent paced requests late and bunched (gaps of 47.6 ms
    against a 50 ms interval): a token bucket without burst answered 429 twice in 203
    requests, and once in 202 with the workers niced (bench/limits.py). With one worker,
    0.953-0.960 utilisation and no 429 in every run. Pacing comes first."""
    if rate < TWO_WORKERS_FROM:
        return 1
    return max(1, min(2, os.cpu_count() or 2))


def _reset() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
