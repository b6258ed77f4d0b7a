"""Sending one connection's claimed outbox rows: in waves that keep each key's rows in outbox
order, in chunks no larger than the vendor allows, rejected chunks bisected until their bad rows
stand alone, every outcome committed (with the rejected rows it supersedes) before the key's
next row leaves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from syncer import errors, records, redact
from syncer.http import VendorClient
from syncer.mirror import Fence, Mirror, OutboxRow, OutboxState, StreamRef
from syncer.models import PushSpec, StreamStats
from syncer.push import order as push_order
from syncer.push.order import Key
from syncer.push.settle import EndpointRefused, check_whole, landed, read_back, sender
from syncer.status import RunMode, RunStatus

log = structlog.get_logger(__name__)

#: a chunk's rows, each with the record the vendor's answer carried for it (None: not carried)
Taken = list[tuple[OutboxRow, dict[str, Any] | None]]


@dataclass
class Tally:
    """What a push did to its rows."""

    accepted: int = 0
    invalid: int = 0
    superseded: int = 0
    #: rows rejected by this push and not superseded since
    rejected: set[int] = field(default_factory=set)


class Pusher:
    """One connection's push: sends claimed batches and remembers, across them, the rows it saw
    rejected (for later rows of their key to supersede) and the endpoints the vendor refused."""

    def __init__(self, mirror: Mirror, client: VendorClient, fence: Fence | None = None) -> None:
        self.mirror = mirror
        self.client = client
        #: the push lock's fencing token: every outbox state change commits only while current
        self.fence = fence
        self.stats = StreamStats()
        self.tally = Tally()
        #: family -> the vendor's refusal of its requests as a whole; its rows are not sent
        self.refused: dict[str, EndpointRefused] = {}
        self._order = push_order.Superseding()
        self._keys: dict[int, Key] = {}
        self._probed: set[str] = set()

    async def push(self, rows: list[OutboxRow]) -> None:
        """Send a claimed batch (rows in outbox order), wave after wave."""
        specs, rows = await self._sendable(rows)
        keys = await push_order.keys_of(self.mirror, self.client.connection.name, rows, specs)
        # this batch's only: memory follows the batch (rejected rows' keys live on in _order)
        self._keys = keys
        waves: dict[int, list[OutboxRow]] = {}
        for row, wave in zip(rows, push_order.waves([keys[r.id] for r in rows]), strict=True):
            waves.setdefault(wave, []).append(row)
        for wave in sorted(waves):
            groups: dict[tuple[str, str], list[OutboxRow]] = {}
            for row in waves[wave]:
                groups.setdefault((row.endpoint, row.operation), []).append(row)
            for pair, group in groups.items():
                await self._group(specs[pair], group)

    async def _sendable(
        self, rows: list[OutboxRow]
    ) -> tuple[dict[tuple[str, str], PushSpec], list[OutboxRow]]:
        """Each endpoint and operation's spec; rows that cannot be sent are marked invalid."""
        assert self.client.connector.push is not None
        options = self.client.connection.options
        specs: dict[tuple[str, str], PushSpec] = {}
        unknown: dict[tuple[str, str], str] = {}
        good: list[OutboxRow] = []
        bad: list[tuple[int, str]] = []
        for row in rows:
            pair = (row.endpoint, row.operation)
            if pair not in specs and pair not in unknown:
                try:
                    specs[pair] = self.client.connector.push(*pair, options)
                except errors.MissingOption as exc:
                    # the connection's configuration, not the rows: nothing of the batch is
                    # sent (a row of the endpoint must not be overtaken by later rows of its key)
                    await self.mirror.outbox.release(
                        [r.id for r in rows], f"not sent: {exc}", self.fence
                    )
                    raise
                except errors.ConfigError as exc:
                    unknown[pair] = exc.message
            reason = unknown[pair] if pair in unknown else specs[pair].invalid(row.payload)
            if reason is None:
                good.append(row)
            else:
                bad.append((row.id, reason))
        await self.mirror.outbox.mark(
            [i for i, _ in bad], OutboxState.INVALID, [m for _, m in bad], fence=self.fence
        )
        self.tally.invalid += len(bad)
        return specs, good

    async def _group(self, spec: PushSpec, rows: list[OutboxRow]) -> None:
        """One endpoint and operation's rows of a wave; none are sent once the vendor refused
        their family's requests as a whole (they go back to pending)."""
        family = spec.order.family or spec.endpoint
        if family not in self.refused:
            try:
                await self._send_group(spec, rows)
                return
            except EndpointRefused as exc:
                self.refused.setdefault(family, exc)
                log.error("push.endpoint_refused", endpoint=spec.endpoint, error=exc.message)
        why = f"not sent: {self.refused[family].message}"
        await self.mirror.outbox.release([r.id for r in rows], why, self.fence)

    async def _send_group(self, spec: PushSpec, rows: list[OutboxRow]) -> None:
        if spec.follow.merge is not None:
            rows = await self._merged(spec, rows)
        run = _MirrorRun()
        if not spec.idempotent:
            # rows an earlier push may have sent: the vendor's state decides before any resend
            maybe_sent = [r for r in rows if r.evidence is not None]
            if maybe_sent:
                found = await landed(self.client, spec, maybe_sent, self.stats)
                taken = [(r, found[r.id]) for r in maybe_sent if r.id in found]
                await self._settle(spec, taken, run)
                rows = [r for r in rows if r.id not in found]
                log.info("push.read_back_before_resend", rows=len(maybe_sent), landed=len(found))
        chunks = push_order.chunks(spec, rows)
        probed: list[Taken] = []
        if chunks and spec.endpoint not in self._probed:
            # an endpoint's first request goes alone: when the vendor refuses requests to it as
            # a whole, one request learns that, not fan_out of them (it settles beside them)
            probed.append(await self._send(spec, chunks.pop(0)))
            self._probed.add(spec.endpoint)
        slots = asyncio.Semaphore(spec.fan_out)
        failures: list[Exception] = []

        async def bounded(chunk: list[OutboxRow], taken: Taken | None = None) -> None:
            # a chunk's outcome is committed before its slot frees; a wave never holds a key
            # twice, so its chunks may go concurrently
            async with slots:
                if failures:
                    return  # after a failure nothing more is sent
                try:
                    sent = await self._send(spec, chunk) if taken is None else taken
                    await self._settle(spec, sent, run)
                except Exception as exc:
                    failures.append(exc)

        first = [bounded([], taken) for taken in probed]
        await asyncio.gather(*first, *(bounded(chunk) for chunk in chunks))
        if failures:
            raise next((f for f in failures if isinstance(f, EndpointRefused)), failures[0])
        await run.finish(self.mirror)

    async def _merged(self, spec: PushSpec, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Emulated upserts: each payload merged with the mirrored record of its key (the vendor
        wants a full replacement, or a create when the key is unknown). Merged wave by wave, so
        a key an earlier wave created is replaced, not created twice."""
        assert (
            spec.follow.merge is not None
            and spec.follow.stream is not None
            and spec.follow.mirror_key
        )
        ref = await self.mirror.find_stream(self.client.connection.name, spec.follow.stream)
        keys = sorted({spec.key(r.payload) for r in rows})
        current = (
            await self.mirror.follow.records_by_field(ref.table, spec.follow.mirror_key[0], keys)
            if ref is not None
            else {}
        )
        return [
            dataclasses.replace(
                r, payload=spec.follow.merge(r.payload, current.get(spec.key(r.payload)))
            )
            for r in rows
        ]

    async def _send(self, spec: PushSpec, chunk: list[OutboxRow]) -> Taken:
        """Send one chunk; bisect on rejection. Returns the rows the vendor took, each with the
        record the answer carried, where it carries one."""
        if not spec.idempotent:
            return await self._send_once(spec, chunk)
        what = f"push to {spec.endpoint} ({len(chunk)} rows from outbox id {chunk[0].id})"
        try:
            body, _ = await self.client.send(
                spec.request([r.payload for r in chunk]), what=what, stats=self.stats
            )
        except errors.VendorError as exc:
            check_whole(self.client, spec, exc)
            if not isinstance(exc, errors.FatalVendorError):
                raise
            if exc.status in spec.answer.done_statuses:
                return [(row, None) for row in chunk]
            return await self._rejected(spec, chunk, exc.message)
        return await self._answered(spec, chunk, body)

    async def _send_once(self, spec: PushSpec, chunk: list[OutboxRow]) -> Taken:
        """A write that is not idempotent: evidence stored before the first send; an ambiguous
        failure (timeout, 5xx, lost connection) is followed by a read-back, and only the rows
        the vendor does not hold are sent again."""
        fresh = [r for r in chunk if r.evidence is None]
        evidence = spec.unapplied.evidence if spec.unapplied is not None else None
        if fresh and evidence is not None:
            try:
                taken = await evidence(
                    sender(self.client, spec, self.stats), [r.payload for r in fresh]
                )
            except errors.FatalVendorError as exc:
                # the vendor refuses to show what the rows would join (a parent that is gone)
                await self._reject(spec, chunk, [exc.message] * len(chunk))
                return []
            await self.mirror.outbox.set_evidence(
                [r.id for r in fresh], [taken] * len(fresh), self.fence
            )
            chunk = [
                r if r.evidence is not None else dataclasses.replace(r, evidence=taken)
                for r in chunk
            ]
        elif fresh:
            await self.mirror.outbox.set_evidence(
                [r.id for r in fresh], [True] * len(fresh), self.fence
            )
            chunk = [dataclasses.replace(r, evidence=r.evidence or True) for r in chunk]
        done: Taken = []
        attempts = max(1, self.client.connection.max_attempts)
        for attempt in range(1, attempts + 1):
            what = f"push to {spec.endpoint} ({len(chunk)} rows from outbox id {chunk[0].id})"
            try:
                body, _ = await self.client.send(
                    spec.request([r.payload for r in chunk]),
                    what=what,
                    stats=self.stats,
                    retry_ambiguous=False,
                )
            except errors.VendorError as exc:
                check_whole(self.client, spec, exc)
                if isinstance(exc, errors.FatalVendorError):
                    if exc.status in spec.answer.done_statuses:
                        return done + [(row, None) for row in chunk]
                    return done + await self._rejected(spec, chunk, exc.message)
                if isinstance(exc, errors.RateLimited) or attempt == attempts:
                    raise
                log.warning("push.ambiguous_failure", error=exc.message, attempt=attempt)
                self.stats.retried()
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 10.0))
                found = await landed(self.client, spec, chunk, self.stats)
                done += [(r, found[r.id]) for r in chunk if r.id in found]
                chunk = [r for r in chunk if r.id not in found]
                if not chunk:
                    return done
                continue
            return done + await self._answered(spec, chunk, body)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _rejected(self, spec: PushSpec, chunk: list[OutboxRow], message: str) -> Taken:
        """A refused chunk: one row is rejected with the vendor's message; more are bisected."""
        if len(chunk) == 1:
            await self._reject(spec, chunk, [message])
            return []
        middle = len(chunk) // 2
        left = await self._send(spec, chunk[:middle])
        return left + await self._send(spec, chunk[middle:])

    async def _answered(self, spec: PushSpec, chunk: list[OutboxRow], body: Any) -> Taken:
        """A 2xx answer: refused as a whole, accounting for every row, or settled by a
        read-back."""
        refusal = spec.answer.refused(body) if spec.answer.refused is not None else None
        if refusal is not None:
            # a refusal of the whole request (a missing right): bisecting would not change it
            await self._reject(spec, chunk, [refusal] * len(chunk))
            log.warning("push.chunk_refused", rows=len(chunk), error=refusal)
            return []
        if spec.answer.acknowledged(body, len(chunk)):
            if spec.answer.positional_ids is not None:
                ids = spec.answer.positional_ids(body)
                if len(ids) == len(chunk):
                    return [(row, {"_id": i}) for row, i in zip(chunk, ids, strict=True)]
            returned = spec.answer.returned(body) if spec.answer.returned is not None else []
            by_key = {k: r for r in returned if (k := spec.read_back.identify(r)[0]) is not None}
            return [(row, by_key.get(spec.key(row.payload))) for row in chunk]
        if spec.read_back.lookup is None and (
            spec.unapplied is None or spec.unapplied.landed is None
        ):
            # nothing to read back: halve until each row's own answer tells (resending is
            # harmless)
            message = "the vendor's answer did not account for this row"
            if not spec.idempotent:
                await self._reject(spec, chunk, [message] * len(chunk))
                return []
            return await self._rejected(spec, chunk, message)
        # the answer does not account for every row: the vendor's own state decides
        found = await landed(self.client, spec, chunk, self.stats)
        missing = [r for r in chunk if r.id not in found]
        message = (
            "the vendor's answer did not account for this row and a read-back did not find it "
            "applied"
        )
        await self._reject(spec, missing, [message] * len(missing))
        return [(r, found[r.id]) for r in chunk if r.id in found]

    async def _reject(self, spec: PushSpec, rows: list[OutboxRow], messages: list[str]) -> None:
        """Record rejected rows; a later accepted row of their key will supersede them."""
        if not rows:
            return
        await self.mirror.outbox.mark(
            [r.id for r in rows], OutboxState.REJECTED, messages, fence=self.fence
        )
        for row, message in zip(rows, messages, strict=True):  # each row's id, the vendor's words
            log.warning(
                "push.row_rejected", outbox_id=row.id, endpoint=spec.endpoint, error=message
            )
        self.tally.rejected.update(r.id for r in rows)
        if spec.order.supersedes:
            for row in rows:
                self._order.rejected(row.id, self._keys[row.id])

    async def _settle(self, spec: PushSpec, accepted: Taken, run: _MirrorRun) -> None:
        """Mark accepted rows with the vendor's id, and the rejected rows of their keys they
        supersede, in one transaction; then refresh the mirror from the vendor's state: the
        records the answers carried, else a read-back of the keys (deletes: keys no longer
        found are deleted from the mirror)."""
        if not accepted:
            return
        conn = self.client.connection
        current = {spec.key(row.payload): rec for row, rec in accepted if rec is not None}
        unknown = [spec.key(row.payload) for row, rec in accepted if rec is None]
        readable = spec.read_back.lookup is not None
        if unknown and readable and spec.follow.stream is not None and conn.push_read_back:
            current.update(await read_back(self.client, spec, unknown, self.stats))
        rows = [row for row, _ in accepted]
        keys = [spec.key(r.payload) for r in rows]
        ids = [
            spec.read_back.identify(rec)[1] if rec is not None else None
            for rec in (own or current.get(k) for (_, own), k in zip(accepted, keys, strict=True))
        ]
        superseded: list[tuple[int, int]] = []
        if spec.order.supersedes:
            for row in sorted(rows, key=lambda r: r.id):
                gone = self._order.superseded_by(row.id, self._keys[row.id])
                superseded += [(old, row.id) for old in gone]
        await self.mirror.outbox.accept([r.id for r in rows], ids, superseded, self.fence)
        self.tally.accepted += len(rows)
        self.tally.superseded += len(superseded)
        self.tally.rejected.difference_update(old for old, _ in superseded)
        if superseded:
            log.info("push.superseded", rows=len(superseded))
        if spec.follow.stream is None:
            return
        pull = self.client.connector.stream(spec.follow.stream, conn.options)
        prepared = records.prepare(
            list(current.values()),
            pull.key,
            pull.cursor_field,
            lenient=False,
            view=pull.view,
            redact=redact.applier(conn, spec.follow.stream, pull.view),
        )
        ref = await self.mirror.ensure_stream(conn.name, spec.follow.stream)
        run_id = await run.start(self.mirror, ref)
        run.stats.records_followed(len(current))
        if prepared.rows or prepared.rejected:  # nothing read back (push_read_back = false)
            await self.mirror.store.merge_records(
                ref, prepared, run_id=run_id, pass_id=None, stats=run.stats, fence=self.fence
            )
        # an accepted delete is gone unless the read-back still found it (a soft delete)
        gone_keys = sorted({k for k in keys if k not in current})
        if spec.follow.deletes and gone_keys:
            for path in spec.follow.mirror_key:
                if not path:  # the key is the mirror's own
                    count = await self.mirror.follow.delete_keys(
                        ref.table, gone_keys, run_id, self.fence
                    )
                    run.stats.marked_deleted(count)
                    continue
                count = await self.mirror.follow.delete_by_field(
                    ref.table, path, gone_keys, run_id, self.fence
                )
                run.stats.marked_deleted(count)


@dataclass
class _MirrorRun:
    """The syncer.runs row that records one group's mirror refreshes (started on the first)."""

    run_id: int | None = None
    stats: StreamStats = field(default_factory=StreamStats)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self, mirror: Mirror, ref: StreamRef) -> int:
        async with self._lock:  # chunks sent concurrently settle concurrently
            if self.run_id is None:
                self.run_id = await mirror.store.start_run(
                    str(uuid.uuid4()), ref, RunMode.PUSH, None, 0
                )
        return self.run_id

    async def finish(self, mirror: Mirror) -> None:
        if self.run_id is not None:
            await mirror.store.finish_run(self.run_id, RunStatus.SUCCEEDED, self.stats, None)
