"""Every runtime query, loaded by name from queries.sql.

Blocks start with `-- name: <query_name>`. Queries that act on a mirror table contain the
placeholder `{table}`, filled only with a name that `names.quote()` accepted.
"""

from __future__ import annotations

import re
from importlib import resources

from syncer import names

_BLOCK = re.compile(r"^-- name: (\w+)\n", re.MULTILINE)


def _load(text: str) -> dict[str, str]:
    parts = _BLOCK.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


queries: dict[str, str] = _load(
    resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
)


def for_table(name: str, table: str) -> str:
    """The query `name` bound to mirror table `table` (a validated identifier)."""
    return queries[name].replace("{table}", names.quote(table))
