"""Push read-backs: the vendor's own state for pushed rows, when its answer does not say it
(which rows landed, their ids, the records for the mirror); and the one place a vendor's error
is judged to be about the request as a whole (EndpointRefused).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from yarl import URL

from syncer import errors
from syncer.http import VendorClient
from syncer.mirror import OutboxRow
from syncer.models import PushSpec, Request, Sender, StreamStats

log = structlog.get_logger(__name__)

#: most keys per read-back request (Exto's largest page)
LOOKUP_BATCH = 1000
#: most characters of a read-back's request target (path and query, as sent): servers commonly
#: take request lines of 8 KB (Apache 8,190 bytes, nginx 8 KB buffers), method and version
#: included; Exto documents 414 URI Too Long. A margin below that, so no 414 is spent finding it
MAX_TARGET_CHARS = 8000


@dataclass
class UrlBudget:
    """The longest request target a client's read-backs send: MAX_TARGET_CHARS, lowered for
    the client's life (one push of a connection) when the vendor answers 414 to a shorter one."""

    chars: int = MAX_TARGET_CHARS


_budgets: weakref.WeakKeyDictionary[VendorClient, UrlBudget] = weakref.WeakKeyDictionary()


def url_budget(client: VendorClient) -> UrlBudget:
    """The client's read-back URL budget."""
    return _budgets.setdefault(client, UrlBudget())


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
    """The vendor's current records for `keys`, by key, in as few requests as the page size
    and the URL length allow. A 414 (the vendor's URLs are shorter) halves the client's budget
    for the rest of its life and batches the keys not yet read again under it."""
    assert spec.read_back.lookup is not None
    lookup = spec.read_back.lookup
    budget = url_budget(client)
    most = min(LOOKUP_BATCH, spec.read_back.lookup_batch)

    def batches(todo: list[str]) -> list[list[str]]:
        return lookup_batches(
            todo, most, lambda batch: target_chars(client, lookup(batch)) <= budget.chars
        )

    # integers in their order, so a batch holds runs of them (which a lookup may send as ranges)
    asked = sorted(set(keys), key=lambda k: (0, int(k), "") if _digits(k) else (1, 0, k))
    found: dict[str, dict[str, object]] = {}
    pending = batches(asked)
    while pending:
        batch = pending.pop(0)
        try:
            found.update(await _read_batch(client, spec, batch, stats))
        except errors.FatalVendorError as exc:
            if exc.status != 414 or len(batch) == 1:
                raise
            sent = target_chars(client, lookup(batch))
            budget.chars = min(budget.chars, sent // 2)
            log.warning("push.read_back_uri_too_long", keys=len(batch), chars=sent)
            pending = batches(batch + [k for b in pending for k in b])
    # a range may have matched records of other keys: only the keys asked are answered
    return {k: found[k] for k in asked if k in found}


async def _read_batch(
    client: VendorClient, spec: PushSpec, batch: list[str], stats: StreamStats
) -> dict[str, dict[str, object]]:
    """One read-back request (and the pages after it, when the answer says there are more)."""
    assert spec.follow.stream is not None and spec.read_back.lookup is not None
    pull = client.connector.stream(spec.follow.stream, client.connection.options)
    found: dict[str, dict[str, object]] = {}
    request: Request | None = spec.read_back.lookup(batch)
    while request is not None:
        what = f"read-back of {spec.endpoint}"
        try:
            body, _ = await client.send(request, what=what, stats=stats)
        except errors.VendorError as exc:
            check_whole(client, spec, exc)
            if exc.status == 404:  # a lookup by key that found nothing
                break
            raise
        records_found = (
            spec.read_back.found(body) if spec.read_back.found else pull.extract(body).records
        )
        for record in records_found:
            if isinstance(record, dict):
                key, _ = spec.read_back.identify(record)
                if key is not None:
                    found[key] = record
        more = spec.read_back.more
        request = more(request, body) if more is not None else None
    return found


def _digits(key: str) -> bool:
    """Whether a key is a non-negative integer's ASCII digits (int() reads other digits too)."""
    return key.isascii() and key.isdigit()


def target_chars(client: VendorClient, request: Request) -> int:
    """The length of a request's target (path and query) as aiohttp sends it."""
    url = URL(client.connection.base_url + request.path)
    return len(url.extend_query(dict(request.params)).raw_path_qs)


def lookup_batches(
    keys: list[str], most: int, fits: Callable[[list[str]], bool]
) -> list[list[str]]:
    """Keys in batches of at most `most`, each the longest whose request `fits` (a key that
    does not fit alone still goes alone)."""
    batches: list[list[str]] = []
    start = 0
    while start < len(keys):
        good, bad = 1, min(most, len(keys) - start) + 1
        if fits(keys[start : bad - 1 + start]):
            good = bad - 1
        else:
            bad -= 1
            while bad - good > 1:  # good fits (or is one key), bad does not
                middle = (good + bad) // 2
                if fits(keys[start : start + middle]):
                    good = middle
                else:
                    bad = middle
        batches.append(keys[start : start + good])
        start += good
    return batches
