"""Tables for people: a rich table where it fits the terminal, one block per row where not.

A number is never cut and a header never shortened: when the table's narrowest layout (every
column as wide as its longest word) is wider than the terminal, each row is printed as a
headline (its leading columns) and its values as `value name` pairs, wrapped between pairs.
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


def show(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> None:
    """Print `rows` under `title`: a table if it fits `console`, else one block per row."""
    table = Table(title=title)
    for column in columns:
        table.add_column(
            column.name,
            justify="right" if column.number else "left",
            no_wrap=column.number,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    if console.measure(table).minimum <= console.width:
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
        console.print(Text("  ") + Text(" · ").join(pairs), soft_wrap=False)


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell
