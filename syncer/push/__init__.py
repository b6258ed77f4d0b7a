"""Push: outbox rows to the vendor in chunked requests, under the same pacing gate as pulls.

One push per connection: lock → desired-state tables diffed into the outbox → claim rows (state
'sending', committed first) → invalid rows marked → the rest sent in waves that keep each key's
rows in outbox order (`order.py`), each wave in chunks no larger than the vendor allows, a
rejected chunk bisected until its bad rows stand alone (`send.py`; an ambiguous answer settled
by reading the vendor back first: `settle.py`) → accepted rows get the
vendor's id and supersede the earlier rejected rows of their key, and the mirror is refreshed
from what the vendor now holds. A push that dies leaves rows 'sending'; the next one sends them
again, which is safe because pushes are upserts by the vendor's unique key (non-idempotent
writes are read back first). An error about a request as a whole (an unknown master) stops
that endpoint family, leaves its rows pending and ends the push with exit code 6.
Desired-state tables and the dry-run plan: `desired.py`.
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
from syncer.mirror import Mirror
from syncer.push import desired
from syncer.push.send import Pusher
from syncer.settings import Config, ConnectionConfig

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
                for table in conn.desired:
                    await desired.queue_desired(mirror, conn, table, fence)
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


plan = desired.plan
