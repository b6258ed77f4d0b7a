"""Push read-backs: the vendor's own state for pushed rows, when its answer does not say it
(which rows landed, their ids, the records for the mirror); and the one place a vendor's error
is judged to be about the request as a whole (EndpointRefused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syncer import errors
from syncer.http import VendorClient
from syncer.mirror import OutboxRow
from syncer.models import PushSpec, Request, Sender, StreamStats

#: most keys per read-back request, and most characters of keys (URLs stay far below the
#: 8 KB many servers accept; Exto documents 414 URI Too Long)
LOOKUP_BATCH = 1000
LOOKUP_CHARS = 4000


class EndpointRefused(errors.ConfigError):
    """The vendor refused a push request as a whole (an unknown master or table, a path that
    does not exist): not a row's fault, so its rows are neither split nor rejected."""

    def __init__(self, message: str, family: str) -> None:
        super().__init__(message)
        self.family = family


def check_whole(client: VendorClient, spec: PushSpec, exc: errors.VendorError) -> None:
    """Raise EndpointRefused when the vendor's error is about the request itself."""
    if spec.answer.whole_request is None:
        return
    reason = spec.answer.whole_request(exc.status, exc.body or exc.message)
    if reason is None:
        return
    conn = client.connection
    raise EndpointRefused(
        f"{client.connector.vendor} refused {spec.operation} to {spec.endpoint!r} of connection "
        f"{conn.name!r} as a whole: {reason} ({exc.message}). Its outbox rows stay pending; "
        "fix the endpoint or the connection, then push again",
        spec.order.family or spec.endpoint,
    )


def sender(client: VendorClient, spec: PushSpec, stats: StreamStats) -> Sender:
    """Requests a push spec makes itself (evidence, landed), paced like every other."""

    async def send(request: Request) -> Any:
        what = f"read-back for {spec.endpoint}"
        try:
            body, _ = await client.send(request, what=what, stats=stats)
        except errors.VendorError as exc:
            check_whole(client, spec, exc)
            raise
        return body

    return send


async def landed(
    client: VendorClient, spec: PushSpec, rows: list[OutboxRow], stats: StreamStats
) -> dict[int, dict[str, Any] | None]:
    """The rows the vendor already holds (by outbox id), each with its record where known."""
    landed_rows = spec.unapplied.landed if spec.unapplied is not None else None
    if landed_rows is not None:
        found = await landed_rows(
            sender(client, spec, stats), [r.payload for r in rows], [r.evidence for r in rows]
        )
        return {r.id: rec for r, rec in zip(rows, found, strict=True) if rec is not None}
    by_key = await read_back(client, spec, [spec.key(r.payload) for r in rows], stats)
    return {
        r.id: by_key[k]
        for r in rows
        if (k := spec.key(r.payload)) in by_key
        and (spec.read_back.holds is None or spec.read_back.holds(r.payload, by_key[k]))
    }


async def read_back(
    client: VendorClient, spec: PushSpec, keys: Sequence[str], stats: StreamStats
) -> dict[str, dict[str, object]]:
    """The vendor's current records for `keys`, by key."""
    assert spec.follow.stream is not None
    pull = client.connector.stream(spec.follow.stream, client.connection.options)
    assert spec.read_back.lookup is not None
    found: dict[str, dict[str, object]] = {}
    for batch in lookup_batches(sorted(set(keys)), min(LOOKUP_BATCH, spec.read_back.lookup_batch)):
        what = f"read-back of {spec.endpoint}"
        try:
            body, _ = await client.send(spec.read_back.lookup(batch), what=what, stats=stats)
        except errors.VendorError as exc:
            check_whole(client, spec, exc)
            if exc.status == 404:  # a lookup by key that found nothing
                continue
            raise
        records_found = (
            spec.read_back.found(body) if spec.read_back.found else pull.extract(body).records
        )
        for record in records_found:
            if isinstance(record, dict):
                key, _ = spec.read_back.identify(record)
                if key is not None:
                    found[key] = record
    return found


def lookup_batches(keys: list[str], most: int = LOOKUP_BATCH) -> list[list[str]]:
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
