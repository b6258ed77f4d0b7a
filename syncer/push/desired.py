"""Desired-state tables and the plan: a table that says what the vendor should hold is diffed
against the mirror into outbox rows (only what differs), and `plan` says what a push would
send, per source and endpoint, sending nothing."""

from __future__ import annotations

import structlog

from syncer import errors
from syncer.connectors.registry import CONNECTORS
from syncer.mirror import Fence, Mirror, desired_diff_sql
from syncer.models import PushSpec
from syncer.settings import Config, ConnectionConfig
from syncer.stream_config import DesiredState

log = structlog.get_logger(__name__)


async def queue_desired(
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
    if spec.follow.stream is None:
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
    assert spec.follow.stream is not None
    # not ensure_stream: a push registers no stream before the vendor has accepted a row of it
    ref = await mirror.find_stream(conn.name, spec.follow.stream)
    view = CONNECTORS[conn.vendor].stream(spec.follow.stream, conn.options).view
    columns = await mirror.outbox.desired_columns(ref, view, desired, spec.follow.fields_at)
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
    if spec.follow.deletes:
        counts["delete"] = len(valid)
    elif operation == "update":  # an update never creates (Exto PATCH, Actito PUT, Ioto)
        counts["update"] = len(valid)
    elif spec.follow.stream is not None and spec.follow.mirror_key and operation == "upsert":
        ref = await mirror.find_stream(conn.name, spec.follow.stream)
        keys = {spec.key(p) for p in valid}
        held = (
            await mirror.follow.records_by_field(ref.table, spec.follow.mirror_key[0], sorted(keys))
            if ref is not None
            else {}
        )
        updates = sum(1 for p in valid if spec.key(p) in held)
        counts["update"], counts["create"] = updates, len(valid) - updates
    return counts
