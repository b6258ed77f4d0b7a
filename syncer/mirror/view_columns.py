"""A stream's typed-view columns named: one per field, a name fixed when the field first gets
it (syncer.stream_columns keeps it) and never given to another field, within the budget of
columns a view may hold.
"""

from __future__ import annotations

from syncer import names
from syncer.mirror.base import ENGINE_COLUMNS
from syncer.models import ViewSpec

_SEP = "\x1f"  # joins a field path into one raw key; cannot occur in a JSON object key we keep


#: typed columns per view at most: Postgres allows 1,600 per relation, and the engine columns
#: need a few; fields past the budget get no column (a run warning says so), values in _data
MAX_VIEW_COLUMNS = 1_500


def name_columns(
    fields: list[tuple[list[str], list[str]]],
    view: ViewSpec,
    stored: dict[tuple[str, ...], tuple[str | None, str | None]] | None = None,
    prevalence: dict[tuple[str, ...], int] | None = None,
    reserved: set[str] | None = None,
) -> tuple[list[tuple[str, list[str], list[str]]], list[list[str]]]:
    """(the view's columns as (name, path, kinds), the new paths that get no column) for a
    stream's fields.

    A path in `stored` (path -> (column name or None, type)) keeps its name; new paths get
    normalised names that no stored column, engine column or other new path has, in order:
    nested fields (custom fields, attributes) before top-level ones, so a new nested field
    keeps its plain name when a new top-level one would collide. Once MAX_VIEW_COLUMNS paths
    hold a column, further new paths get none; no new path takes a name in `reserved` (the
    columns type changes added); with `prevalence` (path -> records holding it)
    the new paths most records hold come first for the columns left.
    """
    stored = stored or {}
    containers = set(view.objects) | {pivot.container for pivot in view.lists}
    nested = [(p, k) for p, k in fields if len(p) == 2 and p[0] in containers]
    top = [(p, k) for p, k in fields if len(p) == 1 and p[0] not in containers and p[0] != "_id"]
    ordered = nested + top
    fresh = [(p, k) for p, k in ordered if tuple(p) not in stored]
    if prevalence is not None:
        fresh.sort(key=lambda field: -prevalence.get(tuple(field[0]), 0))
    taken = {name for name, _ in stored.values() if name is not None}
    mapping = names.assign_columns(
        ((_SEP.join(p), p[-1]) for p, _ in fresh),
        reserved=set(ENGINE_COLUMNS) | {"_data"} | taken | (reserved or set()),
    )
    budget = MAX_VIEW_COLUMNS - len(taken)
    given: dict[tuple[str, ...], str | None] = {}
    for path, _ in fresh:
        given[tuple(path)] = mapping[_SEP.join(path)] if budget > 0 else None
        budget -= 1
    columns = []
    for path, kinds in ordered:
        name = stored[tuple(path)][0] if tuple(path) in stored else given[tuple(path)]
        if name is not None:
            columns.append((name, path, kinds))
    return columns, [list(path) for path, name in given.items() if name is None]
