"""The main flow. One run: for every configured stream, concurrently,
lock (and its fencing token) → pass state → pages (syncer.read: under the credential's limiter,
each checked against what the vendor reported, merge + checkpoint per page) → delete inference
(complete full passes only; syncer.deletes) → cursor → typed view → run record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import SecretStr

from syncer import budget, deletes, errors, metrics, read, redact, schedules, workers
from syncer.connectors.registry import CONNECTORS
from syncer.evidence import PassEvidence
from syncer.http import VendorClient
from syncer.log import register_secret
from syncer.mirror import Mirror, StreamState
from syncer.models import Paging, StreamSpec, StreamStats
from syncer.run import Bounds, Pass, Progress, RunContext, StreamResult
from syncer.settings import Config, ConnectionConfig, tokens
from syncer.status import Mode, RunStatus

log = structlog.get_logger(__name__)

#: the key under which a pass's parameters keep its page size (never sent to the vendor)
PAGE_SIZE_KEY = "syncer:page_size"


def plan(config: Config, only: Sequence[str] = ()) -> list[tuple[ConnectionConfig, StreamSpec]]:
    """The (connection, stream) pairs to run; `only` names streams as NAME or CONNECTION/NAME."""
    chosen = []
    wanted = set(only)
    for conn in config.connections:
        connector = CONNECTORS[conn.vendor]
        for name in conn.streams:
            if not wanted or name in wanted or f"{conn.name}/{name}" in wanted:
                options = conn.stream_config(name).options
                chosen.append((conn, connector.stream(name, options)))
    qualified = [f"{c.name}/{n}" for c in config.connections for n in c.streams]
    known = set(qualified) | {n for c in config.connections for n in c.streams}
    unknown = sorted(wanted - known)
    if unknown:
        raise errors.ConfigError(
            f"no such stream in the config: {', '.join(unknown)}; the config has "
            f"{', '.join(qualified)} (NAME alone works where one connection has it)"
        )
    return chosen


async def sync(
    config: Config,
    database_url: str,
    *,
    only: Sequence[str] = (),
    mode: str | None = None,
    progress: Progress | None = None,
    bounds: Bounds | None = None,
) -> list[StreamResult]:
    """Sync the chosen streams of every connection; never raises for a single stream's failure.

    `mode` None: each stream's own (`mode` in per_stream, else full). `mode` "backfill" reads
    the records updated within `bounds` (since, until: days, either may be None) through the
    vendor's date filter: a resumable read that infers no deletes and moves no cursor."""
    chosen = plan(config, only)
    secrets = tokens(c for c, _ in chosen)
    for conn, spec in chosen:  # the hash keys, before any request; masked like the tokens
        found = redact.for_stream(conn, spec.name, spec.view)
        if found is not None and found.key:
            register_secret(found.key.decode())
    for token in secrets.values():
        register_secret(token.get_secret_value())
    rate = sum(c.rate_limit / c.rate_period for c in {c.name: c for c, _ in chosen}.values())
    warming = asyncio.ensure_future(workers.warm(workers.workers_for(rate)))
    try:
        return await _sync_chosen(config, database_url, chosen, secrets, mode, progress, bounds)
    finally:
        await warming  # never raises


async def _sync_chosen(
    config: Config,
    database_url: str,
    chosen: list[tuple[ConnectionConfig, StreamSpec]],
    secrets: dict[str, SecretStr],
    mode: str | None,
    progress: Progress | None,
    bounds: Bounds | None,
) -> list[StreamResult]:
    invocation = str(uuid.uuid4())
    # per stream: the lock's connection and one per merge in flight
    pool_size = (1 + read.MERGES_IN_FLIGHT) * len(chosen) + 2
    async with (
        Mirror.connect(database_url, max_size=pool_size) as mirror,
        budget.store(database_url) as budgets,
        contextlib.AsyncExitStack() as stack,
    ):
        # mirror_meta.streams: each stream's vendor and next scheduled run
        await schedules.record(mirror, config, [(c.name, s.name) for c, s in chosen])
        clients: dict[str, VendorClient] = {}
        for conn, _ in chosen:
            if conn.name not in clients:
                secret = secrets[conn.name].get_secret_value()
                client = VendorClient(conn, CONNECTORS[conn.vendor], secret, budgets=budgets)
                clients[conn.name] = await stack.enter_async_context(client)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    sync_stream(
                        mirror,
                        clients[conn.name],
                        spec,
                        mode or conn.stream_config(spec.name).mode,
                        invocation,
                        progress,
                        bounds,
                    )
                )
                for conn, spec in chosen
            ]
    return [t.result() for t in tasks]


async def sync_stream(
    mirror: Mirror,
    client: VendorClient,
    spec: StreamSpec,
    mode: str,
    invocation: str,
    progress: Progress | None = None,
    bounds: Bounds | None = None,
) -> StreamResult:
    """One stream's run; failures are returned as a result so sibling streams carry on."""
    conn = client.connection
    result = StreamResult(conn.name, spec.name, mode, RunStatus.RUNNING)
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(connection=conn.name, stream=spec.name):
        try:
            async with mirror.stream_lock(conn.name, spec.name) as fence:
                ref = await mirror.ensure_stream(conn.name, spec.name)
                await mirror.history.apply(ref, conn.stream_config(spec.name).history, fence)
                ctx = RunContext(
                    mirror, client, spec, ref, fence, result, invocation, progress, bounds
                )
                await _run(ctx, Mode(mode))
        except errors.SyncerError as exc:
            already = isinstance(exc, errors.AlreadyRunning)
            result.status = RunStatus.ALREADY_RUNNING if already else RunStatus.FAILED
            result.error = exc.message
            result.exit_code = exc.exit_code
        result.seconds = time.monotonic() - started
        _report(result)
    metrics.connection_rates(conn, client.gate.rate)
    return result


def _report(result: StreamResult) -> None:
    """Say how a stream's run ended, once: its closing log event and the worker's metrics."""
    named = {} if result.run_id is None else {"run_id": result.run_id}
    if result.error is None:
        log.info("run.finished", status=result.status, **named, **vars(result.stats))
    else:
        code = int(result.exit_code)
        log.error("stream.failed", error=result.error, exit_code=code, **named)
    metrics.run_finished(result)


async def _open_pass(ctx: RunContext, mode: Mode) -> tuple[Pass, list[tuple[str, Any]]]:
    """The pass the run works on (the one in progress for its mode, resumed, or a new one),
    and what the prelude found, to log once the run has its id."""
    mirror, spec, ref, result = ctx.mirror, ctx.spec, ctx.ref, ctx.result
    conn = ctx.client.connection
    state = await mirror.store.load_state(ref)
    notes: list[tuple[str, dict[str, Any]]] = []
    effective, result.fell_back = _mode(spec, state, mode, ctx.stats)
    if result.fell_back:
        notes.append(("stream.incremental_unavailable", {"reason": result.fell_back}))
    result.mode = effective
    settings = conn.stream_config(spec.name)
    size = min(settings.page_size or spec.default_page_size, spec.max_page_size)
    current = state.passes.get(effective)
    if current is not None and effective == Mode.BACKFILL:
        asked = _backfill_params(spec, ctx.bounds)
        if {k: v for k, v in current.params.items() if k != PAGE_SIZE_KEY} != asked:
            # another window was asked for: the unfinished one is dropped, not resumed
            await mirror.store.discard_pass(ref, current.pass_id, ctx.fence)
            notes.append(("pass.discarded", {"pass_id": current.pass_id, "reason": "other dates"}))
            current = None
    for other in state.passes.values():
        if other is not current:
            # a backfill waits for its next run, its checkpoint untouched (and vice versa)
            kept = {"pass_id": other.pass_id, "mode": other.mode, "page": other.checkpoint_page}
            notes.append(("pass.kept", kept))
    full = effective == Mode.FULL
    if current is not None:
        params = dict(current.params)
        pinned = int(params.pop(PAGE_SIZE_KEY, size))
        if pinned != size:
            notes.append(("pass.page_size_kept", {"page_size": pinned, "configured": size}))
        cursor_paging = spec.paging == Paging.CURSOR
        run = Pass(
            current.pass_id,
            params,
            full,
            next_page=current.checkpoint_page + 1,
            position=current.checkpoint_cursor if cursor_paging else current.checkpoint_page + 1,
            keys_written=current.keys_written,
            page_size=pinned,
            evidence=_evidence(spec, pinned, list(current.problems), current.evidence),
        )
        return run, notes
    backfill = effective == Mode.BACKFILL
    params = _backfill_params(spec, ctx.bounds) if backfill else dict(spec.params)
    if effective == Mode.INCREMENTAL:
        assert spec.incremental_params is not None and state.cursor is not None
        since = state.cursor - timedelta(seconds=conn.lookback_seconds)
        params.update(spec.incremental_params(since))
    pass_id = await mirror.store.begin_pass(
        ref, effective, {**params, PAGE_SIZE_KEY: str(size)}, ctx.fence
    )
    run = Pass(
        pass_id,
        params,
        full,
        next_page=1,
        position=spec.first(),
        page_size=size,
        evidence=_evidence(spec, size, [], None),
    )
    return run, notes


async def _run(ctx: RunContext, mode: Mode) -> None:
    mirror, spec, ref, result, stats = ctx.mirror, ctx.spec, ctx.ref, ctx.result, ctx.stats
    run, notes = await _open_pass(ctx, mode)
    effective = Mode(result.mode)
    ctx.run_id = await mirror.store.start_run(
        ctx.invocation, ref, effective, run.pass_id, run.next_page - 1
    )
    result.run_id = run_id = ctx.run_id
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        for event, fields in notes:
            log.info(event, **fields)
        if run.next_page > 1:
            result.resumed_from = run.next_page
            log.info("pass.resumed", pass_id=run.pass_id, from_page=run.next_page)
            if ctx.progress is not None:
                connection = ctx.client.connection.name
                ctx.progress.resumed(connection, spec.name, run.pass_id, run.next_page - 1)
        log.info("run.started", mode=effective, pass_id=run.pass_id, from_page=run.next_page)
        try:
            await _lists(ctx, run_id)
            new_fields = await read.read_pass(ctx, run)
            complete = run.evidence.complete
            if not complete:
                read.warn_incomplete(spec, run, stats)
            elif run.full:
                await deletes.infer(ctx, run)
                if effective != Mode.BACKFILL:
                    await mirror.views.note_complete_pass(
                        ref, run.pass_id, run_id, ctx.fence, stats
                    )
            cursor = await mirror.store.finish_pass(
                ref,
                run.pass_id,
                full=run.full,
                # a window of days proves nothing about the changes after it
                complete=complete and effective != Mode.BACKFILL,
                fence=ctx.fence,
            )
            log.info("pass.finished", complete=complete, cursor=cursor and cursor.isoformat())
            if new_fields or not await mirror.views.exists(ref):
                result.view = await mirror.views.refresh(
                    ref, spec.view, stats, run_id=run_id, vendor=ctx.client.connector.vendor
                )
            result.status = _status(stats, complete)
            if result.status != RunStatus.SUCCEEDED or stats.held_deletes:
                result.exit_code = errors.ExitCode.QUARANTINED
            await mirror.store.finish_run(run_id, result.status, stats, None, complete)
        except errors.SyncerError as exc:
            with contextlib.suppress(errors.SyncerError):
                await mirror.store.finish_run(run_id, RunStatus.FAILED, stats, exc.message)
                if isinstance(exc, errors.ConfigError) and stats.pages == 0:
                    await mirror.drop_empty_table(ref)
            raise
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                failed = mirror.store.finish_run(run_id, RunStatus.FAILED, stats, "interrupted")
                await asyncio.shield(failed)
            raise


async def _lists(ctx: RunContext, run_id: int) -> None:
    """A change of the stream's exclude or hash lists: recorded, stored rows brought in line."""
    own = ctx.client.connection.stream_config(ctx.spec.name)
    changes = await ctx.mirror.lists.bring_in_line(
        ctx.ref, run_id, own.exclude, own.hash, ctx.redaction, ctx.fence
    )
    for kind, path in changes:
        log.info("stream.field_list_changed", kind=kind, path=path)


def _backfill_params(spec: StreamSpec, bounds: Bounds | None) -> dict[str, str]:
    """A backfill's pass parameters: the stream's, narrowed to the days asked for."""
    since, until = bounds or (None, None)
    if since is None and until is None:
        raise errors.ConfigError(
            f"a backfill of {spec.name} with no dates is a full pass: use `syncer backfill` "
            "without --since and --until, or `syncer sync --mode full`"
        )
    if spec.range_params is None:
        raise errors.ConfigError(
            f"the vendor has no date filter for {spec.name}: --since and --until cannot narrow "
            "it; run `syncer backfill` without them (a full read)"
        )
    return {**spec.params, **spec.range_params(since, until)}


def _mode(
    spec: StreamSpec, state: StreamState, mode: Mode, stats: StreamStats
) -> tuple[Mode, str | None]:
    """The mode the run can honour, and why it is not the one asked for: incremental needs a
    cursor field and a trustworthy cursor."""
    if mode != Mode.INCREMENTAL:
        return mode, None
    if spec.incremental_params is None:
        reason = "the vendor has no updated-since filter for this stream: every run reads it all"
    elif state.cursor is None:
        reason = "no cursor yet: the first complete full pass sets it"
    elif state.cursor > datetime.now(UTC) + read.FUTURE_TOLERANCE:
        reason = (
            f"the cursor {state.cursor.isoformat()} is in the future (set by hand, or a clock "
            "moved back)"
        )
        stats.warn(f"{spec.name}: {reason}; read in full instead")
    else:
        return mode, None
    return Mode.FULL, reason


def _status(stats: StreamStats, complete: bool) -> RunStatus:
    if not complete:
        return RunStatus.INCOMPLETE
    return RunStatus.QUARANTINED if stats.quarantined else RunStatus.SUCCEEDED


def _evidence(
    spec: StreamSpec, size: int, problems: list[str], state: dict[str, Any] | None
) -> PassEvidence:
    return PassEvidence(size, spec.paging == Paging.PAGES, problems, state)
