"""`syncer status` and `syncer health`: what the runs table says, for people and for monitors
(syncer/health.py)."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from rich.text import Text

from syncer import errors, health, log, migrate
from syncer.cli.app import (
    DEFAULT_CONFIG,
    ConfigOption,
    database,
    load,
    run,
)
from syncer.mirror import Mirror
from syncer.report import Cell, Column, err, out, run_status, show

JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON document on stdout instead of the table.")
]


def status(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show recent stream runs from syncer.runs, newest first.

    --json prints them as one JSON list (timestamps in ISO 8601, seconds as numbers).

    Example: syncer status --limit 5
    """
    url = database()

    async def fetch() -> list[dict[str, Any]]:
        await migrate.migrate(url)
        async with Mirror.connect(url, max_size=2) as mirror:
            return await mirror.store.recent_runs(limit)

    runs = run(fetch())
    if as_json:
        _print_json(runs)
        return
    rows: list[list[Cell]] = []
    for r in runs:
        took = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
        mode = r["mode"]
        if r["resumed_from_page"]:
            mode += f" (resumed after page {r['resumed_from_page']})"
        rows.append(
            [
                str(r["run_id"]),
                f"{r['connection']}/{r['stream']}",
                mode,
                run_status(r["status"]),
                r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
                f"{took:.1f}" if took is not None else "",
                *(str(r[k]) for k in _COUNTS),
            ]
        )
    show(out, "recent runs", _RUNS, rows)
    for r in runs:
        if r["error"]:
            out.print(
                Text.assemble((f"run {r['run_id']} failed: ", "red"), r["error"]),
                soft_wrap=True,
                highlight=False,
            )
        for warning in r["warnings"]:
            out.print(f"run {r['run_id']} warning: {warning}", markup=False, highlight=False)


_COUNTS = ("pages", "inserted", "updated", "unchanged", "deleted", "quarantined", "rate_limited")
_RUNS = (
    Column("run", number=True, head=True),
    Column("stream", head=True),
    Column("mode"),
    Column("status", head=True),
    Column("started"),
    Column("seconds", number=True),
    *(Column("429s" if k == "rate_limited" else k, number=True) for k in _COUNTS),
)


def health_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only the unhealthy streams, and nothing when all are healthy "
            "(cron mails output only then).",
        ),
    ] = False,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify/--no-notify",
            help="POST each unhealthy stream to its connection's notify_url.",
        ),
    ] = True,
) -> None:
    """Check each configured stream's last run and freshness; exit 7 when one is unhealthy.

    Unhealthy: its last run failed (or was abandoned), none of its runs ever finished without
    failing, or the last that did (succeeded, quarantined records, or incomplete) finished
    longer ago than its max_staleness. Each is named with the reason, and POSTed as JSON to
    its connection's notify_url; a notification that fails is reported on stderr (still 7).

    Example: syncer health --config config/sandbox.toml --quiet || echo "exit $?"
    """
    cfg = load(config)
    url = database(cfg)
    for conn in cfg.connections:  # never in a notification, even if a stored error had one
        with contextlib.suppress(errors.ConfigError):  # health needs no token
            log.register_secret(conn.token().get_secret_value())

    async def go() -> tuple[health.Report, list[health.Delivery]]:
        await migrate.migrate(url)
        report = await health.check(cfg, url)
        return report, (await health.notify(cfg, report) if notify else [])

    report, deliveries = run(go())
    if as_json:
        _print_json(
            {
                "checked_at": report.checked_at,
                "healthy": not report.unhealthy,
                "streams": [s.as_json() for s in report.streams],
                "notifications": [
                    {
                        "connection": d.connection,
                        "stream": d.stream,
                        "target": d.target,
                        "ok": d.error is None,
                        "error": d.error,
                    }
                    for d in deliveries
                ],
            }
        )
    else:
        _print_health(report, deliveries, quiet)
    for d in deliveries:
        if d.error is not None:
            err.print(
                f"notification of {d.connection}/{d.stream} to {d.target} failed: {d.error}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    raise typer.Exit(int(report.exit_code))


def _print_health(report: health.Report, deliveries: list[health.Delivery], quiet: bool) -> None:
    if not quiet:
        table = Table(title="stream health")
        for column in ("stream", "health", "last run", "last success", "max staleness"):
            table.add_column(column)
        for s in report.streams:
            r = s.runs
            table.add_row(
                Text(s.qualified),
                Text(s.problem or "ok", style="red" if s.problem else "green"),
                f"{r.last_run_id} {r.last_status}" if r.last_run_id is not None else "none",
                f"{health.duration(s.staleness)} ago" if s.staleness is not None else "never",
                health.duration(s.max_staleness) if s.max_staleness is not None else "",
            )
        out.print(table)
    for s in report.unhealthy:
        out.print(
            f"{s.qualified}: {s.problem}: {s.detail}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if quiet:
        return
    for d in deliveries:
        if d.error is None:
            out.print(f"notified {d.target} of {d.connection}/{d.stream}", highlight=False)
    bad, total = len(report.unhealthy), len(report.streams)
    out.print(f"{bad} of {total} streams unhealthy" if bad else f"all {total} streams healthy")


def _print_json(document: Any) -> None:
    """One JSON document on stdout, no markup (datetimes in ISO 8601)."""
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
