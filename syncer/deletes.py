"""Delete inference at the end of a complete full pass: candidates, confirmation, the guard.

Keys in the mirror that the pass did not see are candidates. Where the vendor can be asked by
key, they are re-read (a key an offset shift hid is found and kept); elsewhere a key must be
missing from two complete passes. Confirmed deletes are soft (`_deleted_at`), unless they
exceed the connection's `max_delete_share` of the stream's live rows: a share that large is
more often a vendor fault (an empty answer, a filter it ignored, counts that lie in a way no
check caught) than real deletes, so they are held for an operator (`syncer deletes`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import structlog

from syncer import errors, workers

if TYPE_CHECKING:
    from syncer.engine import StreamRun

log = structlog.get_logger(__name__)

#: deletes of at most this many rows are never held, whatever their share (a small stream
#: losing a few records is ordinary)
GUARD_FLOOR = 10


def over_guard(count: int, live: int, share: float) -> bool:
    """Whether `count` deletes out of `live` rows must wait for an operator."""
    return count > GUARD_FLOOR and count > share * live


async def infer(ctx: StreamRun, run_id: int, pass_id: int, keys_written: int) -> None:
    """Soft-delete (or hold) the keys the complete pass did not see, once their absence is
    confirmed."""
    mirror, ref, stats = ctx.mirror, ctx.ref, ctx.stats
    if not await mirror.pass_keys_intact(pass_id, keys_written):
        log.warning("deletes.deferred", reason="the pass's key list was lost (Postgres restart)")
        return
    candidates = await mirror.delete_candidates(ref, pass_id)
    if not candidates:
        await mirror.clear_held(ref, ctx.fence)
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
    if unconfirmable:
        confirmed.extend(await mirror.missing_twice(ref, unconfirmable, pass_id, ctx.fence))
    log.info(
        "deletes.inferred",
        candidates=len(candidates),
        deleted=len(confirmed),
        awaiting_second_pass=len(unconfirmable) - len(set(unconfirmable) & set(confirmed)),
    )
    if not confirmed:
        await mirror.clear_held(ref, ctx.fence)
        return
    live = await mirror.live_count(ref)
    if over_guard(len(confirmed), live, conn.max_delete_share):
        await mirror.hold_deletes(ref, confirmed, pass_id, run_id, ctx.fence)
        stats.held_deletes = len(confirmed)
        message = (
            f"{spec.name}: {len(confirmed)} deletes held: they are {len(confirmed) / live:.0%} "
            f"of {live} live rows, over max_delete_share ({conn.max_delete_share:.0%}); "
            f"check the vendor, then `syncer deletes confirm {conn.name}/{spec.name}` (or "
            "`discard`)"
        )
        log.warning("deletes.held", count=len(confirmed), live=live)
        stats.warnings.append(message)
        return
    stats.deleted += await mirror.soft_delete(ref, confirmed, run_id, ctx.fence)


async def _lookup(ctx: StreamRun, run_id: int, pass_id: int, keys: list[str]) -> set[str] | None:
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
        await ctx.mirror.merge_page(
            ctx.ref,
            run_id=run_id,
            pass_id=pass_id,
            page=None,
            prepared=prepared,
            record_keys=False,
            stats=ctx.stats,
            fence=ctx.fence,
        )
    return found
