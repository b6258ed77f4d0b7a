"""Exto read-backs by key (vendors.md §2.4, §2.5): the filter for a batch of a master's or
module's unique values, live records only, and the next page of an answer.

Keys go as `field:TYPE:in:v1|v2|…`, each `|` costing three characters of URL (`%7C`). Where
the keys are integers, a run of consecutive ones goes as a range instead
(`field:NUMBER:ge:a:and:field:NUMBER:le:b`) when that is shorter: a run of 1,000 seven-digit
serial numbers is about 60 characters, not 10,000, so one read-back of Exto's largest page
(1,000 records) fits the 8 KB URLs servers accept. A range also matches any record whose value
lies between its bounds without being one of the keys (2000000.5): those are read (a further
page when they overflow this one) and ignored, so a range proves exactly what a list would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from syncer.connectors.exto_answers import MAX_ROWS
from syncer.models import Request

#: a record soft-deleted keeps its unique value and stays listed: without this condition a
#: page could hold the deleted record and miss the live one [our reading: vendors.md §2.4
#: filters any field; isDeleted is a top-level field, §2.3]
LIVE = "isDeleted:PRIMITIVE:ne:true"
#: what one `|` between two listed keys costs in the URL
_SEPARATOR = len("%7C")
#: what a range's group adds besides the range: its live condition, its `:or:`
_GROUP = len(f":and:{LIVE}:or:")
_INTEGER = re.compile(r"-?[0-9]+")


def filter_in(field: str, keys: Sequence[str]) -> str:
    """`field:TYPE:in:v1|v2|…`: NUMBER when every key is an integer's text, else STRING."""
    return f"{field}:{_type(keys)}:in:" + "|".join(keys)


def live_filter(field: str, keys: Sequence[str]) -> tuple[str, bool]:
    """The filter matching the live records holding `keys` in `field`, and whether it holds a
    range (which may match more records than keys)."""
    ranges: list[tuple[int, int]] = []
    listed: list[str] = list(keys)
    if _type(keys) == "NUMBER":
        listed = [k for k in keys if not _canonical(k)]
        for first, last in _runs(sorted(int(k) for k in keys if _canonical(k))):
            if len(_range(field, first, last)) + _GROUP < _listed_cost(first, last):
                ranges.append((first, last))
            else:
                listed += [str(n) for n in range(first, last + 1)]
    groups = [f"{_range(field, first, last)}:and:{LIVE}" for first, last in ranges]
    if listed:
        groups.append(f"{filter_in(field, listed)}:and:{LIVE}")
    return ":or:".join(groups), bool(ranges)


def lookup(path: str, params: dict[str, str], field: str, keys: Sequence[str]) -> Request:
    """The read-back of `keys`: one page as large as the keys (Exto's largest when ranges may
    match more, sorted by `_id` so later pages follow on)."""
    text, ranged = live_filter(field, keys)
    query = {**params, "filter": text, "page": "1"}
    if ranged:
        query |= {"pageSize": str(MAX_ROWS), "sort": "_id"}
    else:
        query["pageSize"] = str(len(keys))
    return Request(path, query)


def next_page(request: Request, body: Any) -> Request | None:
    """The request for the page after `request`'s, when its answer says there is one."""
    page = int(request.params.get("page", "1"))
    if isinstance(body, dict):
        pages = body.get("totalPages")
        more = isinstance(pages, int) and pages > page
    else:  # the bare array the GitBook page shows: a full page may have a successor
        more = isinstance(body, list) and len(body) >= int(request.params.get("pageSize", "25"))
    if not more:
        return None
    return Request(request.path, {**request.params, "page": str(page + 1)}, headers=request.headers)


def _type(keys: Sequence[str]) -> str:
    return "NUMBER" if all(_INTEGER.fullmatch(k) for k in keys) else "STRING"


def _canonical(key: str) -> bool:
    """An integer written the one way Exto writes it back (no leading zero, no `-0`)."""
    return _INTEGER.fullmatch(key) is not None and str(int(key)) == key


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted integers as runs of consecutive ones, (first, last) each."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(n, runs[-1][1]))
        else:
            runs.append((n, n))
    return runs


def _range(field: str, first: int, last: int) -> str:
    return f"{field}:NUMBER:ge:{first}:and:{field}:NUMBER:le:{last}"


def _listed_cost(first: int, last: int) -> int:
    """What listing first..last costs in the URL, separators included."""
    return sum(len(str(n)) + _SEPARATOR for n in range(first, last + 1))
