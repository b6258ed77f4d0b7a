"""Tables for people: a rich table where it fits the terminal, one block per row where not.

A number is never cut and a header never shortened: only prose columns (an error) wrap, between
words; when even that is wider than the terminal, each row is printed as a headline (its
leading columns) and its values as `value name` pairs, wrapped between pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

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


_STATUS_STYLE = {"succeeded": "green", "quarantined": "yellow", "incomplete": "yellow"}


def run_status(word: str) -> Text:
    """A run's status, coloured: green succeeded, yellow needs a look, red anything else."""
    return Text(word, style=_STATUS_STYLE.get(word, "red"))


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell
