"""Values passed between the layers: stream specs, pages, per-stream statistics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PageBody:
    """What a connector extracts from one response body."""

    records: list[Any]
    #: how many items the page held, in the vendor's own unit (for end-of-data detection)
    item_count: int
    #: the vendor's page count, when the response says it
    total_pages: int | None
    #: the body needed the lenient JSON parser (NaN, lone surrogates): check values one by one
    lenient: bool = False


@dataclass(frozen=True)
class StreamSpec:
    """One readable stream of a vendor, declared as data.

    `params` are sent on every page; `incremental_params(since)` adds the filter for an
    incremental pass; `lookup_params(keys)` re-reads given keys (to confirm deletes).
    """

    name: str
    path: str
    key: Callable[[Any], str | None]
    extract: Callable[[Any], PageBody]
    params: Mapping[str, str] = field(default_factory=dict)
    cursor_field: str | None = None
    incremental_params: Callable[[datetime], dict[str, str]] | None = None
    lookup_params: Callable[[Sequence[str]], dict[str, str]] | None = None
    lookup_batch: int = 100
    max_page_size: int = 1000


@dataclass(frozen=True)
class Connector:
    """A vendor: how to authenticate, how to probe, and how to resolve stream names."""

    vendor: str
    auth_headers: Callable[[str], dict[str, str]]
    stream: Callable[[str], StreamSpec]
    readiness_path: str
    #: short text from a vendor error body, for messages
    error_summary: Callable[[Any], str]


@dataclass
class StreamStats:
    """Counters of one stream run; written to syncer.runs."""

    pages: int = 0
    records: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
