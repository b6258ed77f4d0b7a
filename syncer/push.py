"""Push: outbox rows to the vendor in chunked requests, under the same pacing gate as pulls.

One push per connection: lock → desired-state tables diffed into the outbox → claim rows (state
'sending', committed first) → invalid rows marked → the rest sent in waves that keep each key's
rows in outbox order (`push_order`), each wave in chunks no larger than the vendor allows, a
rejected chunk bisected until its bad rows stand alone (`push_send`) → accepted rows get the
vendor's id and supersede the earlier rejected rows of their key, and the mirror is refreshed
from what the vendor now holds. A push that dies leaves rows 'sending'; the next one sends them
again, which is safe because pushes are upserts by the vendor's unique key (non-idempotent
writes are read back first). An error about a request as a whole (an unknown master) stops
that endpoint family, leaves its rows pending and ends the push with exit code 6.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from syncer import budget, errors
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.log import register_secret
from syncer.mirror import Fence, Mirror, desired_diff_sql
from syncer.models import PushSpec
from syncer.push_send import Pusher
from syncer.settings import Config, ConnectionConfig, DesiredState

log = structlog.get_logger(__name__)

#: rows claimed at a time; each batch is sent before the next is claimed
CLAIM_BATCH = 10_000


@dataclass
class PushResult:
    """How one connection's push ended."""

    connection: str
    accepted: int = 0
    #: rows this push left rejected (a rejected row a later row superseded is not counted)
    rejected: int = 0
    invalid: int = 0
    #: rejected rows a later accepted row of the same key superseded during this push
    superseded: int = 0
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
    async with (
        Mirror.connect(database_url, max_size=4) as mirror,
        budget.store(database_url) as budgets,
    ):
        for conn in chosen:
            results.append(await _push_connection(mirror, conn, budgets))
    return results


async def _push_connection(
    mirror: Mirror, conn: ConnectionConfig, budgets: budget.BudgetStore
) -> PushResult:
    result = PushResult(conn.name)
    started = time.monotonic()
    pusher: Pusher | None = None
    with structlog.contextvars.bound_contextvars(connection=conn.name):
        try:
            token = conn.token().get_secret_value()
            register_secret(token)
            connector = CONNECTORS[conn.vendor]
            async with (
                mirror.lock(
                    f"syncer.push:{conn.name}", f"a push of {conn.name} is running"
                ) as fence,
                VendorClient(conn, connector, token, budgets=budgets) as client,
            ):
                for desired in conn.desired:
                    await _queue_desired(mirror, conn, desired, fence)
                push_id = await mirror.outbox.next_push_id()
                pusher = Pusher(mirror, client, fence)
                while rows := await mirror.outbox.claim(conn.name, push_id, CLAIM_BATCH, fence):
                    await pusher.push(rows)
        except errors.SyncerError as exc:
            result.error = exc.message
            result.exit_code = exc.exit_code
            log.error("push.failed", error=exc.message)
    if pusher is not None:
        tally = pusher.tally
        result.accepted, result.invalid = tally.accepted, tally.invalid
        result.rejected, result.superseded = len(tally.rejected), tally.superseded
        result.requests = pusher.stats.requests
        if pusher.refused and result.error is None:
            # the other endpoints were pushed; these wait for the configuration to be fixed
            result.error = "; ".join(e.message for e in pusher.refused.values())
            result.exit_code = errors.ExitCode.AUTH_OR_CONFIG
    if result.exit_code == errors.ExitCode.OK and (result.rejected or result.invalid):
        result.exit_code = errors.ExitCode.QUARANTINED
    result.seconds = time.monotonic() - started
    log.info(
        "push.finished",
        accepted=result.accepted,
        rejected=result.rejected,
        invalid=result.invalid,
        superseded=result.superseded,
        requests=result.requests,
    )
    return result


async def _queue_desired(
    mirror: Mirror, conn: ConnectionConfig, desired: DesiredState, fence: Fence
) -> None:
    """Queue what the desired-state table wants and the mirror does not have yet, in place of
    what an earlier diff of the table left outstanding."""
    diff, key_field = await _desired_diff(mirror, conn, desired)
    created, updated, replaced = await mirror.outbox.enqueue_desired(
        conn.name, desired, diff, key_field, fence
    )
    log.info(
        "push.desired_queued",
        table=desired.table,
        create=created,
        update=updated,
        replaced=replaced,
    )


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


async def _desired_diff(
    mirror: Mirror, conn: ConnectionConfig, desired: DesiredState
) -> tuple[str, str]:
    """The SQL that diffs a desired-state table against the mirror of its endpoint, and the
    payload field holding the key."""
    spec = _desired_spec(conn, desired)
    assert spec.stream is not None
    # not ensure_stream: a push registers no stream before the vendor has accepted a row of it
    ref = await mirror.find_stream(conn.name, spec.stream)
    view = CONNECTORS[conn.vendor].stream(spec.stream, conn.options).view
    columns = await mirror.outbox.desired_columns(ref, view, desired, spec.fields_at)
    sql = desired_diff_sql(desired, None if ref is None else ref.table, columns, view)
    return sql, columns.fields[desired.key][0][-1]


async def plan(config: Config, database_url: str) -> list[dict[str, object]]:
    """What a push would send, per source and endpoint; sends and queues nothing."""
    lines: list[dict[str, object]] = []
    async with Mirror.connect(database_url, max_size=2) as mirror:
        for conn in config.connections:
            for desired in conn.desired:
                diff, _ = await _desired_diff(mirror, conn, desired)
                created, updated, samples = await mirror.outbox.diff_desired(desired, diff)
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
        for row in await mirror.outbox.plan(None):
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
                    "ids": list(row["ids"] or []),
                }
            )
    return lines


async def _classify(
    mirror: Mirror, conn: ConnectionConfig, endpoint: str, operation: str
) -> dict[str, int | None]:
    """Outbox rows of one endpoint and operation as creates, updates, deletes and invalid rows;
    an upsert whose key the mirror holds is an update. None where it cannot be told."""
    connector = CONNECTORS[conn.vendor]
    payloads = await mirror.outbox.payloads(conn.name, endpoint, operation)
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
    elif operation == "update":  # an update never creates (Exto PATCH, Actito PUT, Ioto)
        counts["update"] = len(valid)
    elif spec.stream is not None and spec.mirror_key and operation == "upsert":
        ref = await mirror.find_stream(conn.name, spec.stream)
        keys = {spec.key(p) for p in valid}
        held = (
            await mirror.follow.records_by_field(ref.table, spec.mirror_key[0], sorted(keys))
            if ref is not None
            else {}
        )
        updates = sum(1 for p in valid if spec.key(p) in held)
        counts["update"], counts["create"] = updates, len(valid) - updates
    return counts
