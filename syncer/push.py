"""Push: outbox rows to the vendor in chunked requests, under the same pacing gate as pulls.

One push per connection: lock → claim rows (state 'sending', committed first) → per endpoint,
invalid rows marked, the rest sent in chunks no larger than the vendor allows → a rejected chunk
is bisected until its bad rows stand alone → an answer that does not account for every row is
settled by reading the keys back → accepted rows get the vendor's id, and the mirror is
refreshed from what the vendor now holds. A push that dies leaves rows 'sending'; the next one
sends them again, which is safe because pushes are upserts by the vendor's unique key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from syncer import errors, records
from syncer.connectors import CONNECTORS
from syncer.http import VendorClient
from syncer.log import register_secret
from syncer.mirror import Mirror, OutboxRow, desired_diff_sql
from syncer.models import PushSpec, Request, Sender, StreamSpec, StreamStats
from syncer.settings import Config, ConnectionConfig, DesiredState

log = structlog.get_logger(__name__)

#: rows claimed at a time; each batch is sent before the next is claimed
CLAIM_BATCH = 10_000
#: most keys per read-back request, and most characters of keys (URLs stay far below the
#: 8 KB many servers accept; Exto documents 414 URI Too Long)
LOOKUP_BATCH = 1000
LOOKUP_CHARS = 4000


@dataclass
class PushResult:
    """How one connection's push ended."""

    connection: str
    accepted: int = 0
    rejected: int = 0
    invalid: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    exit_code: errors.ExitCode = errors.ExitCode.OK


async def push(config: Config, database_url: str, *, only: Sequence[str] = ()) -> list[PushResult]:
    """Push every connection's outbox (or the connections named in `only`)."""
    chosen = [
        c
        for c in config.connections
        if CONNECTORS[c.vendor].push is not None and (not only or c.name in only)
    ]
    results = []
    async with Mirror.connect(database_url, max_size=4) as mirror:
        for conn in chosen:
            results.append(await _push_connection(mirror, conn))
    return results


async def _push_connection(mirror: Mirror, conn: ConnectionConfig) -> PushResult:
    result = PushResult(conn.name)
    started = time.monotonic()
    stats = StreamStats()
    with structlog.contextvars.bound_contextvars(connection=conn.name):
        try:
            token = conn.token().get_secret_value()
            register_secret(token)
            connector = CONNECTORS[conn.vendor]
            async with (
                mirror.lock(f"syncer.push:{conn.name}", f"a push of {conn.name} is running"),
                VendorClient(conn, connector, token) as client,
            ):
                for desired in conn.desired:
                    await _queue_desired(mirror, conn, desired)
                push_id = await mirror.next_push_id()
                while rows := await mirror.claim_outbox(conn.name, push_id, CLAIM_BATCH):
                    for (endpoint, operation), group in _groups(rows).items():
                        await _push_group(mirror, client, endpoint, operation, group, result, stats)
        except errors.SyncerError as exc:
            result.error = exc.message
            result.exit_code = exc.exit_code
            log.error("push.failed", error=exc.message)
    if result.exit_code == errors.ExitCode.OK and (result.rejected or result.invalid):
        result.exit_code = errors.ExitCode.QUARANTINED
    result.requests = stats.requests
    result.seconds = time.monotonic() - started
    log.info(
        "push.finished",
        accepted=result.accepted,
        rejected=result.rejected,
        invalid=result.invalid,
        requests=result.requests,
    )
    return result


async def _queue_desired(mirror: Mirror, conn: ConnectionConfig, desired: DesiredState) -> None:
    """Queue what the desired-state table wants and the mirror does not have yet."""
    diff = await _desired_diff(mirror, conn, desired)
    created, updated = await mirror.enqueue_desired(conn.name, desired, diff)
    log.info("push.desired_queued", table=desired.table, create=created, update=updated)


def _desired_spec(conn: ConnectionConfig, desired: DesiredState) -> PushSpec:
    """The upsert a desired-state table feeds; it must be one whose records syncer mirrors."""
    connector = CONNECTORS[conn.vendor]
    if connector.push is None:
        raise errors.ConfigError(
            f"{conn.vendor} takes no pushes; remove [[desired]] of {conn.name}"
        )
    spec = connector.push(desired.endpoint, "upsert", conn.options)
    if spec.stream is None:
        raise errors.ConfigError(
            f"desired state for {conn.name} {desired.endpoint!r}: syncer does not mirror that "
            "endpoint, so there is nothing to diff against; use the outbox"
        )
    return spec


async def _desired_diff(mirror: Mirror, conn: ConnectionConfig, desired: DesiredState) -> str:
    """The SQL that diffs a desired-state table against the mirror of its endpoint."""
    spec = _desired_spec(conn, desired)
    assert spec.stream is not None
    ref = await mirror.ensure_stream(conn.name, spec.stream)
    view = CONNECTORS[conn.vendor].stream(spec.stream, conn.options).view
    columns = await mirror.desired_columns(ref, view, desired, spec.fields_at)
    return desired_diff_sql(desired, ref.table, columns, view)


async def plan(config: Config, database_url: str) -> list[dict[str, object]]:
    """What a push would send, per source and endpoint; sends and queues nothing."""
    lines: list[dict[str, object]] = []
    async with Mirror.connect(database_url, max_size=2) as mirror:
        for conn in config.connections:
            for desired in conn.desired:
                diff = await _desired_diff(mirror, conn, desired)
                created, updated, samples = await mirror.diff_desired(desired, diff)
                lines.append(
                    {
                        "connection": conn.name,
                        "source": desired.table,
                        "endpoint": desired.endpoint,
                        "create": created,
                        "update": updated,
                        "retry": 0,
                        "samples": samples,
                    }
                )
        connections = {c.name: c for c in config.connections}
        for row in await mirror.plan_outbox(None):
            known = connections.get(row["connection"])
            counts = (
                await _classify(mirror, known, row["endpoint"], row["operation"])
                if known is not None
                else {}
            )
            lines.append(
                {
                    "connection": row["connection"],
                    "source": "syncer.outbox",
                    "endpoint": f"{row['endpoint']} ({row['operation']})",
                    "create": counts.get("create"),
                    "update": counts.get("update"),
                    "delete": counts.get("delete"),
                    "invalid": counts.get("invalid", 0),
                    "rows": row["rows"],
                    "retry": row["retried"],
                    "samples": list(row["samples"] or []),
                }
            )
    return lines


async def _classify(
    mirror: Mirror, conn: ConnectionConfig, endpoint: str, operation: str
) -> dict[str, int | None]:
    """Outbox rows of one endpoint and operation as creates, updates, deletes and invalid rows;
    an upsert whose key the mirror holds is an update. None where it cannot be told."""
    connector = CONNECTORS[conn.vendor]
    payloads = await mirror.outbox_payloads(conn.name, endpoint, operation)
    if connector.push is None:
        return {"invalid": len(payloads)}
    try:
        spec = connector.push(endpoint, operation, conn.options)
    except errors.ConfigError:
        return {"invalid": len(payloads)}
    valid = [p for p in payloads if spec.invalid(p) is None]
    counts: dict[str, int | None] = {"invalid": len(payloads) - len(valid)}
    if spec.deletes:
        counts["delete"] = len(valid)
    elif spec.stream is not None and spec.mirror_key and operation == "upsert":
        ref = await mirror.ensure_stream(conn.name, spec.stream)
        keys = {spec.key(p) for p in valid}
        held = await mirror.records_by_field(ref.table, spec.mirror_key[0], sorted(keys))
        updates = sum(1 for p in valid if spec.key(p) in held)
        counts["update"], counts["create"] = updates, len(valid) - updates
    return counts


def _groups(rows: list[OutboxRow]) -> dict[tuple[str, str], list[OutboxRow]]:
    groups: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in rows:
        groups.setdefault((row.endpoint, row.operation), []).append(row)
    return groups


def _chunks(spec: PushSpec, rows: list[OutboxRow]) -> list[list[OutboxRow]]:
    """Chunks of at most max_chunk rows, a key never twice in one chunk (the vendor's counts
    would not say which of the two won)."""
    by_group: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_group.setdefault(spec.group(row.payload) if spec.group else "", []).append(row)
    chunks: list[list[OutboxRow]] = []
    for members in by_group.values():
        chunks.append([])
        keys: set[str] = set()
        for row in members:
            key = spec.key(row.payload)
            if len(chunks[-1]) >= spec.max_chunk or key in keys:
                chunks.append([])
                keys = set()
            chunks[-1].append(row)
            keys.add(key)
    return [c for c in chunks if c]


async def _push_group(
    mirror: Mirror,
    client: VendorClient,
    endpoint: str,
    operation: str,
    rows: list[OutboxRow],
    result: PushResult,
    stats: StreamStats,
) -> None:
    conn = client.connection
    assert client.connector.push is not None
    try:
        spec = client.connector.push(endpoint, operation, conn.options)
    except errors.ConfigError as exc:
        await mirror.mark_outbox([r.id for r in rows], "invalid", [exc.message] * len(rows))
        result.invalid += len(rows)
        return
    valid: list[OutboxRow] = []
    bad: list[tuple[int, str]] = []
    for row in rows:
        reason = spec.invalid(row.payload)
        if reason is None:
            valid.append(row)
        else:
            bad.append((row.id, reason))
    await mirror.mark_outbox([i for i, _ in bad], "invalid", [m for _, m in bad])
    result.invalid += len(bad)
    if spec.merge is not None:
        valid = await _merged(mirror, conn.name, spec, valid)
    run = _MirrorRun()
    if not spec.idempotent:
        # rows an earlier push may have sent: the vendor's state decides before any resend
        maybe_sent = [r for r in valid if r.evidence is not None]
        if maybe_sent:
            landed = await _landed(client, spec, maybe_sent, stats)
            found = [(r, landed[r.id]) for r in maybe_sent if r.id in landed]
            await _settle_accepted(mirror, client, spec, found, result, stats, run)
            valid = [r for r in valid if r.id not in landed]
            log.info("push.read_back_before_resend", rows=len(maybe_sent), landed=len(landed))
    slots = asyncio.Semaphore(spec.fan_out)

    async def bounded(chunk: list[OutboxRow]) -> list[tuple[OutboxRow, dict[str, Any] | None]]:
        async with slots:
            return await _send(mirror, client, spec, chunk, result, stats)

    # a round never holds a key twice, so the rows of one key reach the vendor in outbox order;
    # each round's outcomes are committed before the next round is sent
    for round_ in _rounds(spec, _chunks(spec, valid)):
        accepted: list[tuple[OutboxRow, dict[str, Any] | None]] = []
        for taken in await asyncio.gather(*(bounded(chunk) for chunk in round_)):
            accepted += taken
        await _settle_accepted(mirror, client, spec, accepted, result, stats, run)
    await run.finish(mirror)


async def _merged(
    mirror: Mirror, connection: str, spec: PushSpec, rows: list[OutboxRow]
) -> list[OutboxRow]:
    """Emulated upserts: each payload merged with the mirrored record of its key (the vendor
    wants a full replacement, or a create when the key is unknown)."""
    assert spec.merge is not None and spec.stream is not None and spec.mirror_key
    ref = await mirror.ensure_stream(connection, spec.stream)
    keys = sorted({spec.key(r.payload) for r in rows})
    current = await mirror.records_by_field(ref.table, spec.mirror_key[0], keys)
    return [
        dataclasses.replace(r, payload=spec.merge(r.payload, current.get(spec.key(r.payload))))
        for r in rows
    ]


def _sender(client: VendorClient, spec: PushSpec, stats: StreamStats) -> Sender:
    async def send(request: Request) -> Any:
        what = f"read-back for {spec.endpoint}"
        body, _ = await client.send(request, what=what, stats=stats)
        return body

    return send


async def _landed(
    client: VendorClient, spec: PushSpec, rows: list[OutboxRow], stats: StreamStats
) -> dict[int, dict[str, Any] | None]:
    """The rows the vendor already holds (by outbox id), each with its record where known."""
    if spec.landed is not None:
        found = await spec.landed(
            _sender(client, spec, stats), [r.payload for r in rows], [r.evidence for r in rows]
        )
        return {r.id: rec for r, rec in zip(rows, found, strict=True) if rec is not None}
    by_key = await _read_back(client, spec, [spec.key(r.payload) for r in rows], stats)
    return {r.id: by_key[k] for r in rows if (k := spec.key(r.payload)) in by_key}


def _rounds(spec: PushSpec, chunks: list[list[OutboxRow]]) -> list[list[list[OutboxRow]]]:
    """Chunks grouped into rounds sent together (fan_out at a time); a key is never in two
    chunks of one round. With fan_out 1 every chunk is its own round, in order."""
    rounds: list[list[list[OutboxRow]]] = [[]]
    keys: set[str] = set()
    for chunk in chunks:
        chunk_keys = {spec.key(r.payload) for r in chunk}
        if spec.fan_out == 1 or keys & chunk_keys:
            rounds.append([])
            keys = set()
        rounds[-1].append(chunk)
        keys |= chunk_keys
    return [r for r in rounds if r]


async def _send(
    mirror: Mirror,
    client: VendorClient,
    spec: PushSpec,
    chunk: list[OutboxRow],
    result: PushResult,
    stats: StreamStats,
) -> list[tuple[OutboxRow, dict[str, Any] | None]]:
    """Send one chunk; bisect on rejection. Returns the rows the vendor took, each with the
    record the answer carried, where it carries one."""
    if not spec.idempotent:
        return await _send_once(mirror, client, spec, chunk, result, stats)
    what = f"push to {spec.endpoint} ({len(chunk)} rows from outbox id {chunk[0].id})"
    try:
        body, _ = await client.send(
            spec.request([r.payload for r in chunk]), what=what, stats=stats
        )
    except errors.FatalVendorError as exc:
        if exc.status in spec.done_statuses:
            return [(row, None) for row in chunk]
        return await _rejected(mirror, client, spec, chunk, exc.message, result, stats)
    return await _answered(mirror, client, spec, chunk, body, result, stats)


async def _send_once(
    mirror: Mirror,
    client: VendorClient,
    spec: PushSpec,
    chunk: list[OutboxRow],
    result: PushResult,
    stats: StreamStats,
) -> list[tuple[OutboxRow, dict[str, Any] | None]]:
    """A write that is not idempotent: evidence stored before the first send; an ambiguous
    failure (timeout, 5xx, lost connection) is followed by a read-back, and only the rows the
    vendor does not hold are sent again."""
    fresh = [r for r in chunk if r.evidence is None]
    if fresh and spec.evidence is not None:
        try:
            taken = await spec.evidence(_sender(client, spec, stats), [r.payload for r in fresh])
        except errors.FatalVendorError as exc:
            # the vendor refuses to show what the rows would join (a parent that is gone)
            await mirror.mark_outbox([r.id for r in chunk], "rejected", [exc.message] * len(chunk))
            result.rejected += len(chunk)
            return []
        await mirror.set_evidence([r.id for r in fresh], [taken] * len(fresh))
        chunk = [
            r if r.evidence is not None else dataclasses.replace(r, evidence=taken) for r in chunk
        ]
    elif fresh:
        await mirror.set_evidence([r.id for r in fresh], [True] * len(fresh))
        chunk = [dataclasses.replace(r, evidence=r.evidence or True) for r in chunk]
    done: list[tuple[OutboxRow, dict[str, Any] | None]] = []
    attempts = max(1, client.connection.max_attempts)
    for attempt in range(1, attempts + 1):
        what = f"push to {spec.endpoint} ({len(chunk)} rows from outbox id {chunk[0].id})"
        try:
            body, _ = await client.send(
                spec.request([r.payload for r in chunk]),
                what=what,
                stats=stats,
                retry_ambiguous=False,
            )
        except errors.FatalVendorError as exc:
            if exc.status in spec.done_statuses:
                return done + [(row, None) for row in chunk]
            return done + await _rejected(mirror, client, spec, chunk, exc.message, result, stats)
        except errors.RateLimited:
            raise
        except errors.RetriableVendorError as exc:
            if attempt == attempts:
                raise
            log.warning("push.ambiguous_failure", error=exc.message, attempt=attempt)
            stats.retries += 1
            await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 10.0))
            landed = await _landed(client, spec, chunk, stats)
            done += [(r, landed[r.id]) for r in chunk if r.id in landed]
            chunk = [r for r in chunk if r.id not in landed]
            if not chunk:
                return done
            continue
        return done + await _answered(mirror, client, spec, chunk, body, result, stats)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _rejected(
    mirror: Mirror,
    client: VendorClient,
    spec: PushSpec,
    chunk: list[OutboxRow],
    message: str,
    result: PushResult,
    stats: StreamStats,
) -> list[tuple[OutboxRow, dict[str, Any] | None]]:
    """A refused chunk: one row is rejected with the vendor's message; more are bisected."""
    if len(chunk) == 1:
        await mirror.mark_outbox([chunk[0].id], "rejected", [message])
        result.rejected += 1
        log.warning("push.row_rejected", outbox_id=chunk[0].id, error=message)
        return []
    middle = len(chunk) // 2
    left = await _send(mirror, client, spec, chunk[:middle], result, stats)
    return left + await _send(mirror, client, spec, chunk[middle:], result, stats)


async def _answered(
    mirror: Mirror,
    client: VendorClient,
    spec: PushSpec,
    chunk: list[OutboxRow],
    body: Any,
    result: PushResult,
    stats: StreamStats,
) -> list[tuple[OutboxRow, dict[str, Any] | None]]:
    """A 2xx answer: refused as a whole, accounting for every row, or settled by a read-back."""
    refusal = spec.refused(body) if spec.refused is not None else None
    if refusal is not None:
        # a refusal of the whole request (a missing right): bisecting would not change it
        await mirror.mark_outbox([r.id for r in chunk], "rejected", [refusal] * len(chunk))
        result.rejected += len(chunk)
        log.warning("push.chunk_refused", rows=len(chunk), error=refusal)
        return []
    if spec.acknowledged(body, len(chunk)):
        if spec.positional_ids is not None:
            ids = spec.positional_ids(body)
            if len(ids) == len(chunk):
                return [(row, {"_id": i}) for row, i in zip(chunk, ids, strict=True)]
        returned = spec.returned(body) if spec.returned is not None else []
        by_key = {k: r for r in returned if (k := spec.identify(r)[0]) is not None}
        return [(row, by_key.get(spec.key(row.payload))) for row in chunk]
    if spec.lookup is None and spec.landed is None and not spec.scan:
        # nothing to read back: halve until each row's own answer tells (resending is harmless)
        message = "the vendor's answer did not account for this row"
        if not spec.idempotent:
            await mirror.mark_outbox([r.id for r in chunk], "rejected", [message] * len(chunk))
            result.rejected += len(chunk)
            return []
        return await _rejected(mirror, client, spec, chunk, message, result, stats)
    # the answer does not account for every row: the vendor's own state decides
    landed = await _landed(client, spec, chunk, stats)
    missing = [r for r in chunk if r.id not in landed]
    message = "the vendor's answer did not account for this row and a read-back did not find it"
    await mirror.mark_outbox([r.id for r in missing], "rejected", [message] * len(missing))
    result.rejected += len(missing)
    return [(r, landed[r.id]) for r in chunk if r.id in landed]


async def _read_back(
    client: VendorClient, spec: PushSpec, keys: Sequence[str], stats: StreamStats
) -> dict[str, dict[str, object]]:
    """The vendor's current records for `keys`, by key."""
    assert spec.stream is not None
    pull = client.connector.stream(spec.stream, client.connection.options)
    if spec.lookup is None:
        return await _scan(client, spec, pull, set(keys), stats)
    found: dict[str, dict[str, object]] = {}
    for batch in _lookup_batches(sorted(set(keys)), min(LOOKUP_BATCH, spec.lookup_batch)):
        what = f"read-back of {spec.endpoint}"
        try:
            body, _ = await client.send(spec.lookup(batch), what=what, stats=stats)
        except errors.FatalVendorError as exc:
            if exc.status == 404:  # a lookup by key that found nothing
                continue
            raise
        records_found = spec.found(body) if spec.found else pull.extract(body).records
        for record in records_found:
            if isinstance(record, dict):
                key, _ = spec.identify(record)
                if key is not None:
                    found[key] = record
    return found


async def _scan(
    client: VendorClient, spec: PushSpec, pull: StreamSpec, keys: set[str], stats: StreamStats
) -> dict[str, dict[str, object]]:
    """A read-back without a lookup by key: every page of the pulled stream, keeping `keys`."""
    found: dict[str, dict[str, object]] = {}
    size = min(pull.max_page_size, client.connection.page_size or pull.default_page_size)
    number = 1
    while True:
        what = f"read-back of {spec.endpoint} (page {number})"
        body, _ = await client.send(pull.page(pull.params, number, size), what=what, stats=stats)
        page = pull.extract(body)
        for record in page.records:
            if isinstance(record, dict) and (key := spec.identify(record)[0]) in keys:
                found[key] = record
        last = page.total_pages is not None and number >= page.total_pages
        if last or page.item_count < size or not page.paginated:
            return found
        number += 1


def _lookup_batches(keys: list[str], most: int = LOOKUP_BATCH) -> list[list[str]]:
    """Keys in batches bounded by count and by their length in the request."""
    batches: list[list[str]] = [[]]
    size = 0
    for key in keys:
        if batches[-1] and (len(batches[-1]) >= most or size + len(key) > LOOKUP_CHARS):
            batches.append([])
            size = 0
        batches[-1].append(key)
        size += len(key) + 1
    return [b for b in batches if b]


@dataclass
class _MirrorRun:
    """The syncer.runs row that records a push group's mirror refreshes (one per group)."""

    run_id: int | None = None
    stats: StreamStats = dataclasses.field(default_factory=StreamStats)

    async def finish(self, mirror: Mirror) -> None:
        if self.run_id is not None:
            await mirror.finish_run(self.run_id, "succeeded", self.stats, None)


async def _settle_accepted(
    mirror: Mirror,
    client: VendorClient,
    spec: PushSpec,
    accepted: list[tuple[OutboxRow, dict[str, Any] | None]],
    result: PushResult,
    stats: StreamStats,
    run: _MirrorRun,
) -> None:
    """Mark accepted rows with the vendor's id and refresh the mirror from the vendor's state:
    the records the answers carried, else a read-back of the keys (deletes: keys no longer
    found are deleted from the mirror)."""
    if not accepted:
        return
    current = {spec.key(row.payload): rec for row, rec in accepted if rec is not None}
    unknown = [spec.key(row.payload) for row, rec in accepted if rec is None]
    readable = spec.lookup is not None or spec.scan
    if unknown and readable and spec.stream is not None and client.connection.push_read_back:
        current.update(await _read_back(client, spec, unknown, stats))
    rows = [row for row, _ in accepted]
    keys = [spec.key(r.payload) for r in rows]
    ids = [
        spec.identify(rec)[1] if rec is not None else None
        for rec in (own or current.get(k) for (_, own), k in zip(accepted, keys, strict=True))
    ]
    await mirror.mark_outbox([r.id for r in rows], "accepted", None, ids)
    result.accepted += len(rows)
    if spec.stream is None:
        return
    pull = client.connector.stream(spec.stream, client.connection.options)
    prepared = records.prepare(
        list(current.values()), pull.key, pull.cursor_field, lenient=False, view=pull.view
    )
    ref = await mirror.ensure_stream(client.connection.name, spec.stream)
    if run.run_id is None:
        run.run_id = await mirror.start_run(str(uuid.uuid4()), ref, "push", None, 0)
    run.stats.records += len(current)
    await mirror.merge_page(
        ref,
        run_id=run.run_id,
        pass_id=None,
        page=None,
        prepared=prepared,
        record_keys=False,
        stats=run.stats,
    )
    # an accepted delete is gone unless the read-back still found it (a soft delete)
    gone = sorted({k for k in keys if k not in current})
    if spec.deletes and gone:
        for path in spec.mirror_key:
            run.stats.deleted += await mirror.delete_by_field(ref.table, path, gone, run.run_id)
