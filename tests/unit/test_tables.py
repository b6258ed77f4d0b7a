"""Tables for people: a table where it fits, one block per row where not; nothing cut."""

from __future__ import annotations

from rich.console import Console

from syncer.report import Column, run_status, show

COLUMNS = (
    Column("stream", head=True),
    Column("status", head=True),
    Column("records", number=True),
    Column("quarantined", number=True),
    Column("error", prose=True),
)
ROWS = [
    ["actito/profiles:customers", run_status("succeeded"), "5000", "0", ""],
    ["exto/master:LOCATION", run_status("failed"), "123456789", "7", "check the token in $X"],
]


def _render(width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    show(console, "sync summary", COLUMNS, ROWS)
    return console.export_text()


def test_a_wide_terminal_gets_the_table() -> None:
    text = _render(200)
    assert "┃ stream" in text and "quarantined" in text and "123456789" in text
    assert "…" not in text


def test_a_narrow_terminal_gets_a_block_per_row_with_every_value_whole() -> None:
    text = _render(50)
    assert "…" not in text and "┃" not in text
    assert max(len(line) for line in text.splitlines()) <= 50
    assert "exto/master:LOCATION failed" in text
    assert "123456789 records" in text and "7 quarantined" in text
    assert "check the token in $X" in " ".join(text.split())
    # an empty value is left out, not printed as a bare name
    assert "actito/profiles:customers succeeded\n  5000 records · 0 quarantined\n" in text
