"""`syncer sync` and what every pulling command shows while it runs: a progress bar per stream
(starting at the checkpoint of a resumed pass), then the summary and what needs a look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column as Cells
from rich.text import Text

from syncer import db, engine, jobs, log, migrate, settings
from syncer.cli import (
    DEFAULT_CONFIG,
    ConfigOption,
    _config,
    _database,
    _queued,
    _run,
    _self_command,
    err,
    out,
    say,
)
from syncer.models import StreamStats
from syncer.tables import Cell, Column, run_status, show

_SUMMARY = (
    Column("stream", head=True),
    Column("mode"),
    Column("status", head=True),
    *(
        Column(name, number=True)
        for name in (
            "pages",
            "records",
            "inserted",
            "updated",
            "unchanged",
            "deleted",
            "quarantined",
            "requests",
            "429s",
            "seconds",
        )
    ),
)


def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            "--stream",
            "-s",
            metavar="NAME",
            help="Only this stream (NAME or CONNECTION/NAME); repeat.",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            metavar="full|incremental",
            help="full: read everything, infer deletes. incremental: since the cursor (a "
            "stream without a cursor yet, or without an updated-since filter, reads in full, "
            "and the summary says so). Default: each stream's `mode` (per_stream in the "
            "config), else full.",
        ),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Queue one job per stream for the workers instead.")
    ] = False,
) -> None:
    """Pull the configured streams into the mirror, writing only what changed.

    Applies pending migrations first. Resumes an interrupted pass from its checkpoint.

    Example: syncer sync --config config/sandbox.toml --stream master:LOCATION --mode incremental
    """
    if mode not in (None, "full", "incremental"):
        raise typer.BadParameter("must be full or incremental", param_hint="--mode")
    cfg = _config(config)
    url = _database(cfg)
    _run(migrate.migrate(url))
    if queue:
        _queued(_run(jobs.queue_streams(url, cfg, stream or [], mode)))
        return
    results = pull(cfg, url, stream or (), mode)
    raise typer.Exit(int(engine.exit_code(results)))


def pull(
    cfg: settings.Config,
    url: str,
    only: Sequence[str],
    mode: str | None,
    bounds: engine.Bounds | None = None,
) -> list[engine.StreamResult]:
    """Run `engine.sync` with progress bars, then print the summary; the results."""
    bars = Bars()
    log.summarised("stream.failed")  # the summary names each failed stream and why
    with bars.progress:
        results = _run(engine.sync(cfg, url, only=only, mode=mode, progress=bars, bounds=bounds))
    summary(results)
    if any(r.status not in ("failed", "already_running") for r in results):
        out.print(
            f"\nOpen the mirror with psql: {_self_command()} psql   (or: psql "
            f"'{db.display_url(url)}'; typed views are in schema mirror_view)",
            highlight=False,
            markup=False,
        )
    return results


class _Pages(ProgressColumn):
    """`31/50 pages`, or `31 pages` while the vendor has not said how many there are."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        return Text(f"{done}/{int(task.total)} pages" if task.total else f"{done} pages")


class _Rate(ProgressColumn):
    """Records per second since the bar appeared."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        records = task.fields.get("records", 0)
        return Text(f"{records / elapsed:,.0f} rec/s" if elapsed > 1 else "")


#: columns from which the bars show the rate and the elapsed time too
WIDE = 110


class Bars:
    """The engine's progress reports as one bar per stream on the terminal (nothing off it)."""

    def __init__(self) -> None:
        # a narrow terminal gets a shorter bar and no rate or elapsed time: one line per
        # stream, its name and numbers whole
        wide = err.width >= WIDE
        self.progress = Progress(
            TextColumn("{task.description}", table_column=Cells(no_wrap=True)),
            BarColumn(bar_width=24 if wide else 8),
            _Pages(table_column=Cells(no_wrap=True)),
            TextColumn("{task.fields[records]:,} records", table_column=Cells(no_wrap=True)),
            *((_Rate(table_column=Cells(no_wrap=True)), TimeElapsedColumn()) if wide else ()),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        self._bars: dict[str, Any] = {}

    def _bar(self, connection: str, stream: str, start: int = 0) -> Any:
        key = f"{connection}/{stream}"
        if key not in self._bars:
            self._bars[key] = self.progress.add_task(key, total=None, completed=start, records=0)
        return self._bars[key]

    def resumed(self, connection: str, stream: str, pass_id: int, page: int) -> None:
        # off a terminal the engine's pass.resumed event says it
        say(f"{connection}/{stream}: resuming pass {pass_id} after page {page}")
        self._bar(connection, stream, start=page)

    def page(
        self, connection: str, stream: str, page: int, total: int | None, stats: StreamStats
    ) -> None:
        self.progress.update(
            self._bar(connection, stream),
            completed=page,
            total=total and max(total, page),
            records=stats.records,
        )


def summary(results: Sequence[engine.StreamResult]) -> None:
    """The summary table, then per stream what needs a look: its error (once), why it read in
    full, where it resumed, its warnings when its pass was incomplete or deletes are held."""
    rows: list[list[Cell]] = []
    for r in results:
        s = r.stats
        rows.append(
            [
                f"{r.connection}/{r.stream}",
                r.mode,
                run_status(r.status),
                *(
                    str(v)
                    for v in (
                        s.pages,
                        s.records,
                        s.inserted,
                        s.updated,
                        s.unchanged,
                        s.deleted,
                        s.quarantined,
                        s.requests,
                        s.rate_limited,
                    )
                ),
                f"{r.seconds:.1f}",
            ]
        )
    show(out, "sync summary", _SUMMARY, rows)
    fell_back = [r for r in results if r.fell_back]
    if fell_back:
        out.print(f"\nRead in full although incremental was asked ({len(fell_back)}):")
        for r in fell_back:
            _line(f"  {r.connection}/{r.stream}: {r.fell_back}")
    for r in results:
        name = f"{r.connection}/{r.stream}"
        if r.resumed_from is not None:
            _line(f"{name}: resumed its pass at page {r.resumed_from}")
        if r.error:
            out.print(Text.assemble((f"{name}: ", "red"), log.scrub(r.error)), highlight=False)
        if r.status == "incomplete" or r.stats.held_deletes:
            for warning in r.stats.warnings:
                _line(f"{name}: {warning}")


def _line(text: str) -> None:
    out.print(text, markup=False, highlight=False)
