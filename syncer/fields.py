"""The (path, kind) pairs of a page's records, which drive the typed views: top-level fields,
fields of the objects a view names, names of its {name, value} lists; a string field's kind
(timestamp, local timestamp, date or string) read in one regex pass over its values.
"""

from __future__ import annotations

import re
from typing import Any

from syncer.models import ListField, ViewSpec

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)")
#: a timestamp without an offset (Actito's moments, XtraKit's Laravel stamps): read in the
#: stream's `ViewSpec.time_zone`
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALL_TIMESTAMPS = re.compile(rf"(?:{_TIMESTAMP.pattern}\n)*{_TIMESTAMP.pattern}")
_ALL_LOCAL = re.compile(rf"(?:{_LOCAL.pattern}\n)*{_LOCAL.pattern}")
_ALL_DATES = re.compile(rf"(?:{_DATE.pattern}\n)*{_DATE.pattern}")

#: a field's path: its name, or its object's and its own
Path = tuple[str, ...]
#: (field path, JSON kind) pairs seen in records; they drive the typed views
Field = tuple[Path, str]


_PY_KIND = {
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
    dict: "object",
    list: "array",
}


def _string_kinds(values: list[Any]) -> set[str]:
    """Kinds of the strings among `values`: one regex pass over them all, joined."""
    strings = [v for v in values if isinstance(v, str) and "\n" not in v]
    if len(strings) < sum(1 for v in values if isinstance(v, str)):
        return {"string"}  # a multi-line value is plain text
    blob = "\n".join(strings)
    if _ALL_TIMESTAMPS.fullmatch(blob):
        return {"timestamp"}
    if _ALL_LOCAL.fullmatch(blob):
        return {"local_timestamp"}
    if _ALL_DATES.fullmatch(blob):
        return {"date"}
    return {"string"}


def _looks_temporal(value: str) -> bool:
    return (len(value) >= 16 and value[10] in "T ") or (len(value) == 10 and value[4] == "-")


def _field_string_kinds(objects: list[dict[str, Any]], key: str) -> set[str]:
    """String kinds of one field: a plain first string settles it without reading the rest."""
    for obj in objects:
        first = obj.get(key)
        if isinstance(first, str):
            if not _looks_temporal(first):
                return {"string"}
            break
    return _string_kinds([o.get(key) for o in objects])


def _shape_types(objects: list[dict[str, Any]]) -> dict[str, set[type]]:
    """key -> the Python types its values have across `objects`, one pass per distinct shape."""
    shapes = {(tuple(o), tuple(map(type, o.values()))) for o in objects}
    types: dict[str, set[type]] = {}
    for keys, value_types in shapes:
        for key, value_type in zip(keys, value_types, strict=True):
            types.setdefault(key, set()).add(value_type)
    return types


def page_fields(records: list[dict[str, Any]], view: ViewSpec | None = None) -> set[Field]:
    """The (path, kind) pairs of a page: top-level fields, fields of the objects the view
    names (Exto's customFields) and the names of its {name, value} lists (Actito's attributes).

    Records of one stream mostly share a shape (same keys, same value types), so types are
    gathered per distinct shape, and a string field's values are classified in one regex pass.
    """
    view = view or ViewSpec()
    groups: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = [((), records)]
    for key in view.objects:
        groups.append(((key,), [c for r in records if isinstance(c := r.get(key), dict)]))
    for listed in view.lists:
        rows = [pivot(r.get(listed.list_key), listed) for r in records]
        groups.append(((listed.container,), rows))
    out: set[Field] = set()
    for prefix, objects in groups:
        for key, py_types in _shape_types(objects).items():
            path = (*prefix, key)
            for py_type in py_types:
                if py_type is str:
                    out.update((path, k) for k in _field_string_kinds(objects, key))
                else:
                    out.add((path, _PY_KIND.get(py_type, "object")))
    return out


def page_paths(records: list[dict[str, Any]], view: ViewSpec | None = None) -> set[Path]:
    """The field paths of a page, without their kinds (`page_fields`' paths, for the records
    whose fields are known already): which fields a pass saw."""
    view = view or ViewSpec()
    out: set[Path] = {(key,) for key in set().union(*records)}
    for key in view.objects:
        inner = [c for r in records if isinstance(c := r.get(key), dict)]
        out.update((key, name) for name in set().union(*inner))
    for listed in view.lists:
        rows = [pivot(r.get(listed.list_key), listed) for r in records]
        out.update((listed.container, name) for name in set().union(*rows))
    return out


def pivot(items: Any, pivot: ListField) -> dict[str, Any]:
    """[{name: a, value: 1}, ...] -> {a: 1, ...}; anything else -> {}."""
    if not isinstance(items, list):
        return {}
    return {
        item[pivot.name_key]: item.get(pivot.value_key)
        for item in items
        if isinstance(item, dict) and isinstance(item.get(pivot.name_key), str)
    }
