"""`syncer state` and `syncer deletes`: an operator's hands on a stream's cursor, pass in
progress and held deletes (syncer.admin does the work)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from syncer import admin, errors
from syncer.cli.app import database, fail, group, run
from syncer.report import out

state_app = group(
    "Inspect or reset a stream's cursor and pass in progress.\n\nExample: syncer state show"
)
deletes_app = group(
    "Deletes held back because they exceeded max_delete_share.\n\nExample: syncer deletes show"
)

StreamArg = Annotated[
    str, typer.Argument(help="CONNECTION/STREAM (as `syncer state show` lists), or STREAM.")
]


@state_app.command("show")
def state_show() -> None:
    """Every stream's cursor, pass in progress (mode, checkpoint page, problems so far), last
    complete full pass and held deletes.

    Example: syncer state show
    """
    url = database()
    rows = run(admin.states(url))
    table = Table(title="stream state")
    for column in ("stream", "cursor", "pass", "checkpoint", "last complete full pass", "held"):
        table.add_column(column)
    for r in rows:
        in_progress = f"{r['pass_id']} ({r['pass_mode']})" if r["pass_id"] is not None else ""
        table.add_row(
            f"{r['connection']}/{r['stream']}",
            _when(r["cursor"]),
            in_progress,
            str(r["checkpoint_page"]) if r["pass_id"] is not None else "",
            _when(r["last_full_pass_at"]),
            str(r["held"]),
        )
    out.print(table)
    for r in rows:
        for problem in r["pass_problems"] or ():
            out.print(
                f"{r['connection']}/{r['stream']} pass {r['pass_id']}: {problem}",
                markup=False,
                highlight=False,
            )


@state_app.command("reset")
def state_reset(
    stream: StreamArg,
    cursor: Annotated[
        datetime | None,
        typer.Option(help="Set the cursor (ISO date or time, UTC unless it says otherwise)."),
    ] = None,
    no_cursor: Annotated[
        bool,
        typer.Option(
            "--no-cursor", help="Clear the cursor: the next incremental run reads in full."
        ),
    ] = False,
    drop_pass: Annotated[
        bool,
        typer.Option(
            "--drop-pass", help="Drop the pass in progress: the next run starts at page 1."
        ),
    ] = False,
) -> None:
    """Reset a stream's cursor and/or drop its pass in progress (its checkpoint). Takes the
    stream's lock: exit 4 while a run of the stream is in progress.

    Example: syncer state reset exto/master:LOCATION --no-cursor --drop-pass
    """
    if cursor is not None and no_cursor:
        raise fail("--cursor and --no-cursor exclude each other", errors.ExitCode.USAGE)
    if cursor is not None and cursor.tzinfo is None:
        cursor = cursor.replace(tzinfo=UTC)
    url = database()
    done = run(
        admin.reset(
            url,
            stream,
            cursor=cursor,
            set_cursor=cursor is not None or no_cursor,
            drop_pass=drop_pass,
        )
    )
    said = []
    if cursor is not None or no_cursor:
        before = _when(done.cursor_before) or "none"
        said.append(f"cursor {before} -> {_when(done.cursor_after) or 'none'}")
    if drop_pass:
        dropped = ", ".join(map(str, done.dropped_passes))
        said.append(f"dropped pass {dropped}" if dropped else "no pass was in progress")
    if not said:
        said.append("nothing asked: give --cursor, --no-cursor or --drop-pass")
    out.print(f"{done.stream}: {'; '.join(said)}", highlight=False, markup=False)


@deletes_app.command("show")
def deletes_show() -> None:
    """Streams with deletes held back, how many, and since when.

    Example: syncer deletes show
    """
    url = database()
    rows = run(admin.held(url))
    table = Table(title="held deletes")
    for column in ("stream", "keys", "pass", "run", "held since"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            f"{r['connection']}/{r['stream']}",
            str(r["keys"]),
            str(r["pass_id"]),
            str(r["run_id"]),
            _when(r["held_at"]),
        )
    out.print(table)


@deletes_app.command("confirm")
def deletes_confirm(stream: StreamArg) -> None:
    """Apply a stream's held deletes (soft deletes: `_deleted_at` is set).

    Example: syncer deletes confirm exto/master:LOCATION
    """
    url = database()
    count = run(admin.confirm_deletes(url, stream))
    out.print(f"{stream}: {count} rows marked deleted", highlight=False)


@deletes_app.command("discard")
def deletes_discard(stream: StreamArg) -> None:
    """Drop a stream's held deletes without applying them (the vendor still has the records,
    or the next complete pass should decide afresh).

    Example: syncer deletes discard exto/master:LOCATION
    """
    url = database()
    count = run(admin.discard_deletes(url, stream))
    out.print(f"{stream}: {count} held deletes dropped", highlight=False)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""
