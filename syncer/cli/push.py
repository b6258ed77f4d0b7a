"""Pushing: `push`, `plan` (what a push would send) and `outbox drop`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from syncer import errors, log, migrate, push
from syncer.cli.app import (
    DEFAULT_CONFIG,
    ConfigOption,
    database,
    fail,
    group,
    load,
    queued,
    run,
)
from syncer.mirror import Mirror
from syncer.mirror.outbox import OutboxState
from syncer.report import Column, out, show

outbox_app = group(
    "Rows waiting to be pushed to the vendors (syncer.outbox).\n\nExample: syncer outbox drop 17 18"
)


def push_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", metavar="NAME", help="Only this connection; repeat."),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Queue one push job per connection for the workers instead."),
    ] = False,
) -> None:
    """Send the rows waiting in syncer.outbox to the vendors, in chunked upserts.

    A key's rows reach the vendor in outbox order. Every row ends accepted (with the vendor's
    id), rejected (with the vendor's message; retried by later pushes until it succeeds, is
    dropped, or a later accepted row of its key supersedes it) or invalid (never sent). An
    endpoint the vendor refuses as a whole (an unknown master) exits 6; its rows stay pending.

    Example: syncer push --config config/sandbox.toml --connection exto
    """
    cfg = load(config)
    url = database(cfg)
    run(migrate.migrate(url))
    if queue:
        from syncer import jobs  # procrastinate: imported only to queue

        jobs_queued = run(jobs.queue_pushes(url, cfg, connection or []))
        queued([(f"{name} (push)", job_id) for name, job_id in jobs_queued])
        return
    log.summarised("push.failed")  # the summary's error column says it
    results = run(push.push(cfg, url, only=connection or ()))
    show(
        out,
        "push summary",
        (
            Column("connection", head=True),
            *(
                Column(name, number=True)
                for name in ("accepted", "rejected", "invalid", "superseded", "requests", "seconds")
            ),
            Column("error", prose=True),
        ),
        [
            [
                r.connection,
                *(str(n) for n in (r.accepted, r.rejected, r.invalid, r.superseded, r.requests)),
                f"{r.seconds:.1f}",
                log.scrub(r.error or ""),
            ]
            for r in results
        ],
    )
    raise typer.Exit(int(errors.worst(r.exit_code for r in results)))


def plan(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Show what a push would send, per endpoint, sending nothing.

    Per desired-state table: the rows to create and to update (they differ from the mirror).
    Per endpoint: the rows waiting in syncer.outbox (their ids) as creates, updates (the
    mirror holds the key), deletes and invalid rows, with samples.

    Example: syncer plan --config config/sandbox.toml
    """
    cfg = load(config)
    url = database(cfg)

    async def compute() -> list[dict[str, Any]]:
        await migrate.migrate(url)
        return await push.plan(cfg, url)

    lines = run(compute())
    if not lines:
        out.print("nothing to send: no outbox row waits and every desired-state table matches")
        return
    columns = (
        Column("connection", head=True),
        Column("source", head=True),
        Column("endpoint", head=True),
        *(Column(name, number=True) for name in ("create", "update", "delete", "invalid")),
        Column("queued", number=True),
        Column("retries", number=True),
        Column("outbox ids", prose=True),
        Column("samples", prose=True),
    )

    def count(line: dict[str, Any], name: str) -> str:
        value = line.get(name)
        return "" if value is None else str(value)

    show(
        out,
        "push plan (nothing sent)",
        columns,
        [
            [
                str(line["connection"]),
                str(line["source"]),
                str(line["endpoint"]),
                *(count(line, name) for name in ("create", "update", "delete", "invalid")),
                count(line, "rows"),
                str(line["retry"]),
                _id_ranges(line.get("ids") or []),
                "\n".join(str(s)[:120] for s in line["samples"]),
            ]
            for line in lines
        ],
    )


def _id_ranges(ids: list[int]) -> str:
    """`3-7, 12, 15-16`: the outbox ids of a plan line, as ranges (`syncer outbox drop` takes
    them one by one)."""
    spans: list[list[int]] = []
    for i in sorted(ids):
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


@outbox_app.command("drop")
def outbox_drop(
    ids: Annotated[list[int], typer.Argument(help="Outbox row ids (syncer plan lists them).")],
) -> None:
    """Give up on outbox rows (rejected, invalid or pending): later pushes skip them.

    Example: syncer outbox drop 17 18
    """
    url = database()

    async def drop() -> tuple[list[int], dict[int, str | None]]:
        await migrate.migrate(url)
        async with Mirror.connect(url, max_size=2) as mirror:
            return await mirror.outbox.drop(ids)

    dropped, kept = run(drop())
    out.print(
        f"dropped {len(dropped)} row(s)" + (f": {', '.join(map(str, dropped))}" if dropped else "")
    )
    if kept:
        reasons = []
        for row_id, state in sorted(kept.items()):
            if state is None:
                reasons.append(f"{row_id}: no such outbox row")
            elif state == OutboxState.DROPPED:
                reasons.append(f"{row_id}: already dropped")
            else:
                reasons.append(f"{row_id}: {state}, and only pending, rejected or invalid rows go")
        raise fail("not dropped: " + "; ".join(reasons), errors.ExitCode.USAGE)
