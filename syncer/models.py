"""Values passed between the layers: requests, pages, stream and vendor specs, statistics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from syncer.auth import Auth


class Paging(StrEnum):
    """How a stream's pages are addressed."""

    #: by page number: pages can be asked for out of order, several at once
    PAGES = "pages"
    #: by the cursor the previous page returned: one after the other
    CURSOR = "cursor"


@dataclass(frozen=True)
class Request:
    """One HTTP request, relative to the connection's base URL."""

    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    json: Any = None
    #: sent with this request, over the connection's (a stream's own X-PROJECT-ID, say)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PageBody:
    """What a connector extracts from one response body."""

    records: list[Any]
    #: how many items the page held, in the vendor's own unit (for end-of-data detection)
    item_count: int
    #: the vendor's page count, when the response says it
    total_pages: int | None
    #: cursor paging: where the next page starts; None on the last page
    next_cursor: Any = None
    #: False when the response said nothing about paging: it is taken as the whole set
    paginated: bool = True
    #: the vendor's count of records in the whole selection, when the response says it
    total_records: int | None = None


@dataclass(frozen=True)
class ListField:
    """A list of {name, value} objects shown as one column per name (Actito's attributes)."""

    list_key: str
    name_key: str = "name"
    value_key: str = "value"

    @property
    def container(self) -> str:
        """The first element of the field paths of this list, e.g. `attributes[name].value`."""
        return f"{self.list_key}[{self.name_key}].{self.value_key}"


@dataclass(frozen=True)
class ViewSpec:
    """How a stream's typed view finds its columns besides the top-level fields.

    `objects`: keys whose object values become columns (Exto's customFields).
    `lists`: lists of {name, value} objects pivoted into columns.
    `numeric`: fields (top-level or nested names) cast to numeric even though the vendor sends
    strings (XtraKit's money and quantities).
    `instants`: fields typed timestamptz even while every value seen is null (Ioto's `expires`),
    so the column needs no type change when the first instant arrives.
    `time_zone`: the IANA zone of timestamps the vendor writes without an offset (Actito's
    `YYYY-MM-DD HH:MM:SS` moments, XtraKit's Laravel stamps); they become timestamptz in it.
    `soft_delete`: a top-level boolean field by which the vendor marks a record deleted while
    still listing it (Exto's `isDeleted`): such rows stay in the mirror, out of the typed view.
    `updated`: the path of the record's updated-at value when it is not the stream's top-level
    `cursor_field` (Actito's `updateMoment` attribute: `("attributes", "updateMoment")`, a name
    in a {name, value} list); it fills `_source_updated_at`.
    """

    objects: tuple[str, ...] = ()
    lists: tuple[ListField, ...] = ()
    numeric: frozenset[str] = frozenset()
    instants: frozenset[str] = frozenset()
    time_zone: str = "UTC"
    soft_delete: str | None = None
    updated: tuple[str, ...] = ()


#: build the request for one page: (pass parameters, position, page size) -> Request.
#: The position is a page number (paging "pages") or the cursor from the previous page,
#: None for the first (paging "cursor").
PageRequest = Callable[[Mapping[str, str], Any, int], Request]


@dataclass(frozen=True)
class StreamSpec:
    """One readable stream of a vendor, declared as data.

    `params` are the pass's parameters (stored with the pass, so a resumed pass asks the same);
    `incremental_params(since)` adds the filter for an incremental pass; `lookup_params(keys)`
    re-reads given keys through the list's filter, `lookup_one(key)` one key per request (to
    confirm deletes).
    """

    name: str
    key: Callable[[Any], str | None]
    extract: Callable[[Any], PageBody]
    page: PageRequest
    paging: Paging = Paging.PAGES
    params: Mapping[str, str] = field(default_factory=dict)
    cursor_field: str | None = None
    incremental_params: Callable[[datetime], dict[str, str]] | None = None
    lookup_params: Callable[[Sequence[str]], dict[str, str]] | None = None
    #: `range_params(since, until)`: the vendor's filter for records updated on those days
    #: (either bound may be None); None where the vendor has no such filter
    range_params: Callable[[date | None, date | None], dict[str, str]] | None = None
    lookup_batch: int = 100
    #: where the vendor looks records up one key per request rather than by a filter on the
    #: list (Exto's users by username): the request for one key
    lookup_one: Callable[[str], Request] | None = None
    #: the records a `lookup_one` answer holds
    lookup_found: Callable[[Any], list[Any]] = lambda body: [body]
    #: (key, status, the vendor's error text) -> whether a `lookup_one` error answer says that
    #: the key does not exist (anything else proves nothing)
    lookup_absent: Callable[[str, int | None, str], bool] = lambda key, status, text: False
    max_page_size: int = 1000
    #: page size when the connection does not set one
    default_page_size: int = 1000
    view: ViewSpec = ViewSpec()

    def first(self) -> Any:
        """The position of the first page."""
        return 1 if self.paging == Paging.PAGES else None


#: sends one request through the connection (paced, authenticated) and returns the parsed body
Sender = Callable[[Request], Awaitable[Any]]

#: how a push row names a record: (the name's path in the mirrored record, its value as text)
Name = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class Answer:
    """How to read the vendor's answer to a write."""

    #: (answer, rows sent) -> whether the answer accounts for every row sent
    acknowledged: Callable[[Any, int], bool]
    #: the records an answer carries (Ioto's create returns the stored item): when given,
    #: they are the vendor's state and no read-back is needed
    returned: Callable[[Any], list[dict[str, Any]]] | None = None
    #: the vendor ids of the rows sent, in their order (an append's insertedIds; our reading)
    positional_ids: Callable[[Any], list[str]] | None = None
    #: a 2xx answer that still refuses the whole request (Exto's `success: false`): why
    refused: Callable[[Any], str | None] | None = None
    #: statuses that mean there was nothing left to do (a delete of rows already gone)
    done_statuses: frozenset[int] = frozenset()
    #: (status, the vendor's error text) -> why the vendor refused the request as a whole (an
    #: unknown master, a path that does not exist), or None when its answer is about the rows
    whole_request: Callable[[int | None, str], str | None] | None = None


@dataclass(frozen=True)
class ReadBack:
    """How to read rows back by key, so an ambiguous answer is decided from the vendor's own
    state (and vendor ids and the mirror are refreshed)."""

    #: re-read rows by key; None: the vendor has no lookup (the answer alone decides)
    lookup: Callable[[Sequence[str]], Request] | None = None
    #: the record a lookup returns -> (its natural key, the vendor's id)
    identify: Callable[[dict[str, Any]], tuple[str | None, str | None]] = lambda r: (None, None)
    #: keys per read-back request
    lookup_batch: int = 1000
    #: the records a read-back answer holds (default: the pulled stream's own extraction)
    found: Callable[[Any], list[dict[str, Any]]] | None = None
    #: (row, the vendor's record a read-back found for its key) -> whether the record shows
    #: the row applied; None: finding the key is enough. An update of a record that is gone
    #: (still listed, soft-deleted) finds the key but did not land
    holds: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None
    #: (read-back request, answer) -> the next page's request, if any (a range matches more)
    more: Callable[[Request, Any], Request | None] | None = None


@dataclass(frozen=True)
class Unapplied:
    """A write that is not idempotent (an append, a create): an ambiguous failure is never
    resent blindly; what landed is decided first."""

    #: evidence taken before a row is first sent (stored with the row)
    evidence: Callable[[Sender, list[dict[str, Any]]], Awaitable[Any]] | None = None
    #: for each row, the vendor's record if the row already landed (given the rows and the
    #: evidence stored with each), else None
    landed: (
        Callable[[Sender, list[dict[str, Any]], list[Any]], Awaitable[list[dict[str, Any] | None]]]
        | None
    ) = None


@dataclass(frozen=True)
class Follow:
    """How the mirror follows accepted writes."""

    #: the pulled stream whose mirror a push refreshes (None: no mirror follows this endpoint)
    stream: str | None = None
    #: where pushed fields sit in the pulled record (Exto: under customFields)
    fields_at: tuple[str, ...] = ()
    #: accepted rows whose key a read-back no longer finds are deleted from the mirror
    deletes: bool = False
    #: the mirrored record's fields (paths) that may hold the key: deletes mark those rows
    #: deleted (an empty path: the key is the mirror's own key), and `merge` is given the
    #: mirrored record whose first path holds the row's key
    mirror_key: tuple[tuple[str, ...], ...] = ()
    #: emulated upserts: (payload, mirrored record or None) -> the payload to send
    merge: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]] | None = None
    #: a mirrored record the vendor still lists but no write reaches (Exto's soft delete): a
    #: name that leads only to such records does not place its row on a record
    gone: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Order:
    """Which rows are about the same record, so a key's rows reach the vendor in outbox order
    (docs/push.md "Order, keys and supersession")."""

    #: the names a row gives its record, each (its path in the mirrored record, its value as
    #: text), the way the row names it first; a path () is a name the mirror cannot look up.
    #: None: the row's `key`, unplaced
    names: Callable[[dict[str, Any]], list[Name]] | None = None
    #: endpoints whose rows may name the same records share a family (default: the endpoint)
    family: str | None = None
    #: a later accepted row of the same key supersedes an earlier rejected one (False for
    #: appends: a second row adds to the first rather than replacing it)
    supersedes: bool = True


@dataclass(frozen=True)
class PushSpec:
    """One way of writing to a vendor, declared as data: how rows become chunked requests,
    then one small record per question the push asks: how to read the answer (`answer`), how
    to read rows back (`read_back`), what to do for writes that are not idempotent
    (`unapplied`: None for idempotent ones), how the mirror follows (`follow`), which rows are
    about the same record (`order`).

    `invalid(row)` says why a row cannot be sent (None when it can); `key(row)` is the row's
    natural key at the vendor (the unique field of an upsert, the refId of a delete).
    """

    endpoint: str
    operation: str
    max_chunk: int
    request: Callable[[list[dict[str, Any]]], Request]
    invalid: Callable[[Any], str | None]
    key: Callable[[dict[str, Any]], str]
    answer: Answer
    read_back: ReadBack = ReadBack()
    unapplied: Unapplied | None = None
    follow: Follow = Follow()
    order: Order = Order()
    #: requests in flight at once for this endpoint (vendors that take one record per call)
    fan_out: int = 1
    #: rows of one request share what this returns (a sub-table's parent, a workflow action)
    group: Callable[[dict[str, Any]], str] | None = None

    @property
    def idempotent(self) -> bool:
        """Re-sending an acknowledged row is harmless (an upsert by key); not for appends and
        creates, whose ambiguous failures `unapplied` settles first."""
        return self.unapplied is None


#: which record each flat setting of `spec` belongs to
_RECORDS: dict[str, tuple[str, type]] = {
    **dict.fromkeys(
        ("acknowledged", "returned", "positional_ids", "refused", "done_statuses", "whole_request"),
        ("answer", Answer),
    ),
    **dict.fromkeys(
        ("lookup", "identify", "lookup_batch", "found", "holds", "more"), ("read_back", ReadBack)
    ),
    **dict.fromkeys(("evidence", "landed"), ("unapplied", Unapplied)),
    **dict.fromkeys(
        ("stream", "fields_at", "deletes", "mirror_key", "merge", "gone"), ("follow", Follow)
    ),
    **dict.fromkeys(("names", "family", "supersedes"), ("order", Order)),
}


def push_spec(*, idempotent: bool = True, **settings: Any) -> PushSpec:
    """A PushSpec from flat settings, each put in its record: for connectors whose endpoints
    share defaults and differ in a few settings (a dict of them merged per endpoint)."""
    grouped: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    for name, value in settings.items():
        if name in _RECORDS:
            grouped.setdefault(_RECORDS[name][0], {})[name] = value
        else:
            direct[name] = value
    records = {group: cls for group, cls in _RECORDS.values()}
    built = {group: records[group](**values) for group, values in grouped.items()}
    if idempotent:
        if "unapplied" in built:
            raise ValueError("evidence and landed are for writes that are not idempotent")
    else:
        built.setdefault("unapplied", Unapplied())
    return PushSpec(**direct, **built)


@dataclass(frozen=True)
class Connector:
    """A vendor: authentication, error vocabulary, probes and the streams it offers."""

    vendor: str
    #: auth(base_url, secret, fetch) -> Auth; `fetch(Request, headers)` sends an
    #: unauthenticated request through the connection (paced) and returns the parsed JSON
    auth: Callable[[str, str, Callable[..., Any]], Auth]
    #: stream(name, connection options) -> spec; raises ConfigError for an unknown name
    stream: Callable[[str, Mapping[str, str]], StreamSpec]
    #: short text from a vendor error body, for messages
    error_summary: Callable[[Any], str]
    #: an unauthenticated readiness probe, where the vendor has one
    readiness: Request | None = None
    #: statuses that mean the credential is refused (Ioto answers 403)
    auth_failures: frozenset[int] = frozenset({401, 403})
    #: where one status means two things (Ioto's 403: a bad token, or a device of another
    #: account), tells from the error text whether the credential itself was refused
    refuses_credential: Callable[[int, str], bool] | None = None
    #: statuses that mean the account is stopped (XtraKit's 402 Payment Required)
    account_failures: frozenset[int] = frozenset()
    #: push(endpoint, operation, connection options) -> spec; None: the vendor takes no pushes yet
    push: Callable[[str, str, Mapping[str, str]], PushSpec] | None = None


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
    #: records dropped because a newer one on the same page had the same key
    duplicate_keys: int = 0
    #: confirmed deletes held for an operator (over the connection's max_delete_share)
    held_deletes: int = 0
    warnings: list[str] = field(default_factory=list)

    # What happens in a run, counted here and nowhere else.

    def request_sent(self) -> None:
        """One request went out (each attempt counts)."""
        self.requests += 1

    def throttled(self) -> None:
        """The vendor answered 429."""
        self.rate_limited += 1

    def retried(self) -> None:
        """A request is sent again after a failure that is safe to retry."""
        self.retries += 1

    def page_read(self, records: int) -> None:
        """A page of `records` records was read (merged next)."""
        self.pages += 1
        self.records += records

    def records_followed(self, records: int) -> None:
        """The mirror followed `records` records a push wrote to the vendor."""
        self.records += records

    def merged(self, inserted: int, updated: int, unchanged: int, quarantined: int) -> None:
        """A page's merge committed: what it wrote, and the records it quarantined."""
        self.inserted += inserted
        self.updated += updated
        self.unchanged += unchanged
        self.quarantined += quarantined

    def marked_deleted(self, rows: int) -> None:
        """`rows` mirror rows were marked deleted."""
        self.deleted += rows

    def deletes_held(self, rows: int) -> None:
        """`rows` confirmed deletes wait for an operator (over the guard)."""
        self.held_deletes = rows

    def duplicates_dropped(self, records: int) -> None:
        """`records` records repeated a key on their page; the newest of each was kept."""
        self.duplicate_keys += records

    def warn(self, message: str, *, replacing: str | None = None, once: bool = False) -> None:
        """Add a warning for the run record and the summary; `replacing` one said before (a
        count that grew), which goes; `once`: not if the run has said it already."""
        if replacing is not None and replacing in self.warnings:
            self.warnings.remove(replacing)
        if not (once and message in self.warnings):
            self.warnings.append(message)

    def forget_warnings(self, containing: str) -> None:
        """Drop the warnings that contain `containing` (one about to be said anew)."""
        self.warnings[:] = [w for w in self.warnings if containing not in w]
