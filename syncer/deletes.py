"""Delete inference at the end of a complete full pass: candidates, confirmation, the guard.

Keys in the mirror that the pass did not see are candidates. Where the vendor can be asked by
key, they are re-read (a key an offset shift hid is found and kept): in batches through the
list's filter, or one per request where the vendor only looks up single keys (at most
LOOKUP_ONE_LIMIT of them); elsewhere a key must be missing from two complete passes.
Confirmed deletes are soft (`_deleted_at`), unless they exceed the connection's
`max_delete_share` of the stream's live rows: a share that large is more often a vendor fault
(an empty answer, a filter it ignored, counts that lie in a way no check caught) than real
deletes, so they are held for an operator (`syncer deletes`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import structlog

from syncer import errors, records, redact, workers
from syncer.run import Pass, RunContext

log = structlog.get_logger(__name__)

#: deletes of at most this many rows are never held, whatever their share (a small stream
#: losing a few records is ordinary)
GUARD_FLOOR = 10

#: most candidates re-read one request each (Exto's users: about 35 s at 3 requests per
#: second); more wait for a second pass instead
LOOKUP_ONE_LIMIT = 100
#: single-key lookups in flight at once (the connection's pacing still spaces them)
LOOKUP_ONE_IN_FLIGHT = 4


def over_guard(count: int, live: int, share: float) -> bool:
    """Whether `count` deletes out of `live` rows must wait for an operator."""
    return count > GUARD_FLOOR and count > share * live


async def infer(ctx: RunContext, run: Pass) -> None:
    """Soft-delete (or hold) the keys the complete pass `run` did not see, once their absence
    is confirmed."""
    mirror, ref, stats = ctx.mirror, ctx.ref, ctx.stats
    run_id, pass_id = ctx.run_id, run.pass_id
    if not await mirror.store.pass_keys_intact(pass_id, run.keys_written):
        log.warning("deletes.deferred", reason="the pass's key list was lost (Postgres restart)")
        return
    candidates = await mirror.store.delete_candidates(ref, pass_id)
    if not candidates:
        await mirror.store.clear_held(ref, ctx.fence)
        return
    conn = ctx.client.connection
    spec = ctx.spec
    confirmed: list[str] = []
    unconfirmable: list[str] = candidates
    if spec.lookup_params is not None and len(candidates) <= conn.confirm_limit:
        unconfirmable = []
        for i in range(0, len(candidates), spec.lookup_batch):
            chunk = candidates[i : i + spec.lookup_batch]
            found = await _lookup(ctx, run_id, pass_id, chunk)
            if found is None:
                unconfirmable.extend(chunk)
            else:
                confirmed.extend(k for k in chunk if k not in found)
    elif spec.lookup_one is not None and len(candidates) <= min(
        conn.confirm_limit, LOOKUP_ONE_LIMIT
    ):
        absent, unconfirmable = await _lookup_each(ctx, run_id, pass_id, candidates)
        confirmed.extend(absent)
    if unconfirmable:
        confirmed.extend(await mirror.store.missing_twice(ref, unconfirmable, pass_id, ctx.fence))
    log.info(
        "deletes.inferred",
        candidates=len(candidates),
        deleted=len(confirmed),
        awaiting_second_pass=len(unconfirmable) - len(set(unconfirmable) & set(confirmed)),
    )
    if not confirmed:
        await mirror.store.clear_held(ref, ctx.fence)
        return
    live = await mirror.store.live_count(ref)
    if over_guard(len(confirmed), live, conn.max_delete_share):
        await mirror.store.hold_deletes(ref, confirmed, pass_id, run_id, ctx.fence)
        stats.deletes_held(len(confirmed))
        message = (
            f"{spec.name}: {len(confirmed)} deletes held: they are {len(confirmed) / live:.0%} "
            f"of {live} live rows, over max_delete_share ({conn.max_delete_share:.0%}); "
            f"check the vendor, then `syncer deletes confirm {conn.name}/{spec.name}` (or "
            "`discard`)"
        )
        log.warning("deletes.held", count=len(confirmed), live=live)
        stats.warn(message)
        return
    stats.marked_deleted(await mirror.store.soft_delete(ref, confirmed, run_id, ctx.fence))


async def _lookup(ctx: RunContext, run_id: int, pass_id: int, keys: list[str]) -> set[str] | None:
    """Re-read `keys`; the set of those the vendor still has, or None if it cannot tell."""
    spec, client = ctx.spec, ctx.client
    assert spec.lookup_params is not None
    request = spec.page({**spec.params, **spec.lookup_params(keys)}, spec.first(), len(keys))
    settings = client.connection.stream_config(spec.name)
    if settings.headers:
        request = dataclasses.replace(request, headers=dict(settings.headers))
    try:
        page = await client.send(
            request,
            what=f"stream {spec.name} lookup",
            stats=ctx.stats,
            decode=workers.decoder(
                client.connector.vendor,
                spec.name,
                settings.options,
            ),
        )
    except errors.FatalVendorError as exc:
        log.warning("deletes.lookup_refused", error=exc.message)
        return None
    prepared = page.prepared
    rows = prepared.rows
    found = {r.key for r in rows} | {b.key for b in prepared.rejected if b.key is not None}
    if not found <= set(keys) or page.item_count >= len(keys) + 1:
        log.warning("deletes.lookup_ignored_filter", returned=page.item_count)
        return None
    if rows:
        await ctx.mirror.store.merge_records(
            ctx.ref, prepared, run_id=run_id, pass_id=pass_id, stats=ctx.stats, fence=ctx.fence
        )
    return found


async def _lookup_each(
    ctx: RunContext, run_id: int, pass_id: int, keys: list[str]
) -> tuple[list[str], list[str]]:
    """Re-read `keys` one request each: (the keys the vendor says it does not have, the keys
    whose answer proved nothing). Keys found are merged into the mirror again."""
    spec, client = ctx.spec, ctx.client
    assert spec.lookup_one is not None
    lookup_one = spec.lookup_one
    headers = dict(client.connection.stream_config(spec.name).headers)
    slots = asyncio.Semaphore(LOOKUP_ONE_IN_FLIGHT)

    async def ask(key: str) -> list[Any] | None:
        """The records found for `key` ([] when the vendor says it has none), or None."""
        request = lookup_one(key)
        if headers:
            request = dataclasses.replace(request, headers={**headers, **request.headers})
        async with slots:
            try:
                body, _ = await client.send(
                    request, what=f"stream {spec.name} lookup of one key", stats=ctx.stats
                )
            except errors.FatalVendorError as exc:
                if spec.lookup_absent(key, exc.status, exc.body or exc.message):
                    return []
                log.warning("deletes.lookup_refused", error=exc.message)
                return None
        mine = [r for r in spec.lookup_found(body) if isinstance(r, dict) and spec.key(r) == key]
        if not mine:
            # an answer about another record, or none: it does not say the key is gone
            log.warning("deletes.lookup_ignored_key")
            return None
        return mine

    answers = await asyncio.gather(*(ask(k) for k in keys))
    absent = [k for k, found in zip(keys, answers, strict=True) if found == []]
    unknown = [k for k, found in zip(keys, answers, strict=True) if found is None]
    held = [r for found in answers if found for r in found]
    if held:
        prepared = records.prepare(
            held,
            spec.key,
            spec.cursor_field,
            lenient=False,
            view=spec.view,
            redact=redact.applier(ctx.client.connection, spec.name, spec.view),
        )
        await ctx.mirror.store.merge_records(
            ctx.ref, prepared, run_id=run_id, pass_id=pass_id, stats=ctx.stats, fence=ctx.fence
        )
    return absent, unknown
