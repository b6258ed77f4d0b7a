"""Everything syncer shows a person: the two consoles, tables that fit the terminal, the
progress bars of a pull and the summaries of its runs. Off a terminal stderr carries JSON lines
(syncer/log.py) and stdout the same tables, wide.

A number is never cut and a header never shortened: only prose columns (an error) wrap, between
words; when even that is wider than the terminal, each row is printed as a headline (its
leading columns) and its values as `value name` pairs, wrapped between pairs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
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
from rich.table import Table
from rich.text import Text

from syncer import log
from syncer.models import StreamStats
from syncer.run import StreamResult
from syncer.status import RunStatus

# off a terminal, wide enough not to wrap a table (COLUMNS, when set, wins)
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
err = Console(stderr=True)


def say(message: str) -> None:
    """A line for the person at the terminal, on stderr; nothing when stderr carries JSON
    lines (the events say it there)."""
    if not log.is_json():
        err.print(message, markup=False, highlight=False, soft_wrap=True)


def line(text: str) -> None:
    """A plain line on stdout (no markup), wrapped between words."""
    out.print(text, markup=False, highlight=False)


#: a cell: plain text (never read as markup) or styled text
Cell = str | Text


@dataclass(frozen=True)
class Column:
    name: str
    #: right-aligned (numbers): kept on one line, never folded
    number: bool = False
    #: part of the row's headline in the narrow layout (the stream, its status)
    head: bool = False
    #: free text (an error, samples): the only kind of column wrapped, between words
    prose: bool = False


def show(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> None:
    """Print `rows` under `title`: a table if it fits `console`, else one block per row."""
    table = Table(title=title)
    widths = _words(columns, rows)
    for column, width in zip(columns, widths, strict=True):
        table.add_column(
            column.name,
            justify="right" if column.number else "left",
            no_wrap=not column.prose,
            overflow="fold",
            min_width=width if column.prose else None,
        )
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    # every column's padding (2) and left border (1), and the closing border
    if sum(width + 3 for width in widths) + 1 <= console.width:
        console.print(table)
        return
    console.print(Text(title, style="italic"), justify="center" if console.width > 40 else "left")
    for row in rows:
        headline = Text(" ").join(
            _text(cell) for column, cell in zip(columns, row, strict=True) if column.head
        )
        console.print(headline, soft_wrap=False)
        pairs = [
            Text.assemble(_text(cell), " ", (column.name, "dim"))
            for column, cell in zip(columns, row, strict=True)
            if not column.head and _plain(cell)
        ]
        # wrapped between pairs, never inside one: `5000 inserted` stays on one line
        line = Text("  ")
        for pair in pairs:
            if len(line) > 2 and len(line) + 3 + len(pair) > console.width:
                console.print(line, soft_wrap=False)
                line = Text("  ")
            line += Text(" · ") + pair if len(line) > 2 else pair
        if len(line) > 2:
            console.print(line, soft_wrap=False)


def _words(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Per column, its longest cell (its longest word for prose), its header included."""
    widths = []
    for i, column in enumerate(columns):
        words = [column.name]
        for row in rows:
            text = _plain(row[i])
            words.extend(text.split() if column.prose else text.splitlines() or [""])
        widths.append(max(len(word) for word in words))
    return widths


_STATUS_STYLE: dict[str, str] = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.QUARANTINED: "yellow",
    RunStatus.INCOMPLETE: "yellow",
}


def run_status(word: str) -> Text:
    """A run's status, coloured: green succeeded, yellow needs a look, red anything else."""
    return Text(word, style=_STATUS_STYLE.get(word, "red"))


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


# -- a pull: its progress and its summary -----------------------------------------

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


def summary(results: Sequence[StreamResult]) -> None:
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
            line(f"  {r.connection}/{r.stream}: {r.fell_back}")
    for r in results:
        name = f"{r.connection}/{r.stream}"
        if r.resumed_from is not None:
            line(f"{name}: resumed its pass at page {r.resumed_from}")
        if r.error:
            out.print(Text.assemble((f"{name}: ", "red"), log.scrub(r.error)), highlight=False)
        if r.status == RunStatus.INCOMPLETE or r.stats.held_deletes:
            for warning in r.stats.warnings:
                line(f"{name}: {warning}")
