"""Turn vendor JSON into storable rows: canonical text, content hash, or a quarantine reason.

The hash is blake2b-128 over the canonical JSON (keys sorted, compact). Equal content gives
an equal hash whatever the key order the vendor used, so unchanged records cost no writes.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson

from syncer import undecodable
from syncer.fields import Field, Path, page_fields, page_paths, pivot
from syncer.models import ViewSpec
from syncer.undecodable import BadBytes

MAX_RECORD_BYTES = 10 * 1024 * 1024
#: the deepest nesting a record may have (orjson's encoder refuses deeper)
MAX_DEPTH = 254


class Row(NamedTuple):
    """A record ready for the mirror (a tuple: it crosses process boundaries cheaply)."""

    key: str
    text: str
    digest: bytes
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """One page made ready for the mirror."""

    rows: list[Row]
    rejected: list[Rejected]
    fields: set[Field]
    #: records dropped because a newer record of the page had the same key
    duplicates: int = 0
    #: rows without their text: a page recalled from syncer.memo, equal to one decoded before
    hollow: bool = False
    #: the newest updated-at of a hollow page (its rows carry none)
    stamp: datetime | None = None
    #: the field paths of all the page's records, when `fields` holds only some records'
    #: (a page decoded against known hashes: the others' fields were read when they came)
    paths: frozenset[Path] | None = None

    @property
    def seen_paths(self) -> frozenset[Path]:
        """The field paths of the page's records."""
        if self.paths is not None:
            return self.paths
        return frozenset(path for path, _ in self.fields)

    @property
    def lean(self) -> bool:
        """Whether some rows carry no text (known rows, or a hollow page): a merge that must
        write one of them decodes the page again in full."""
        return self.hollow or any(not r.text for r in self.rows)

    @property
    def newest(self) -> datetime | None:
        """The newest updated-at among the page's rows."""
        if self.hollow:
            return self.stamp
        return max((r.updated_at for r in self.rows if r.updated_at is not None), default=None)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by columns (a worker's answer crosses a pipe): a page of 1,000 rows pickles
        in about half the time of 1,000 Row tuples, and loads in half the time too."""
        rows = self.rows
        columns = (
            [r.key for r in rows],
            [r.text for r in rows],
            [r.digest for r in rows],
            [r.updated_at for r in rows],
        )
        rest = (self.rejected, self.fields, self.duplicates, self.hollow, self.stamp, self.paths)
        return (_unpickle_prepared, (*columns, *rest))


def _unpickle_prepared(
    keys: list[str],
    texts: list[str],
    digests: list[bytes],
    stamps: list[datetime | None],
    rejected: list[Rejected],
    fields: set[Field],
    duplicates: int,
    hollow: bool,
    stamp: datetime | None,
    paths: frozenset[Path] | None,
) -> Prepared:
    rows = list(map(Row, keys, texts, digests, stamps))
    return Prepared(rows, rejected, fields, duplicates, hollow, stamp, paths)


@dataclass(frozen=True, slots=True)
class MemoEntry:
    """A decoded page to remember (syncer.memo), written with its merge (the keys are the
    merge's own): its body's digest, its rows' content hashes in order, the rest of it as
    JSON, and where it was read from as JSON."""

    digest: bytes
    hashes: bytes
    page: str
    position: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot be stored, kept with its reason for syncer.quarantine."""

    key: str | None
    reason: str
    raw: str


#: bytes of a content hash (blake2b-128)
HASH_BYTES = 16


def packed_hashes(rows: Iterable[Row]) -> bytes:
    """The rows' content hashes, one after another (how syncer.page_memo and a page's merge
    carry a page's hashes)."""
    return b"".join(r.digest for r in rows)


def unpacked_hashes(packed: bytes) -> list[bytes]:
    """`packed_hashes` split back into one hash per row."""
    return [packed[i : i + HASH_BYTES] for i in range(0, len(packed), HASH_BYTES)]


def canonical(record: Any) -> bytes:
    """Compact JSON with sorted keys; raises TypeError/JSONEncodeError on unstorable values."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def content_hash(record: Any) -> bytes:
    """The content hash syncer stores in `_hash` for a record."""
    return hashlib.blake2b(canonical(record), digest_size=HASH_BYTES).digest()


class Parsed(NamedTuple):
    """A response body parsed."""

    value: Any
    #: plain RFC 8259 JSON in UTF-8 (orjson read it); else values must be checked
    strict: bool
    #: how bytes that are not UTF-8 were read, when the body held some
    bad_bytes: BadBytes | None = None


def parse_body(body: bytes) -> Parsed:
    """Parse a page's body; raises ValueError when it is not JSON.

    orjson refuses NaN, Infinity, lone surrogates and bytes that are not UTF-8. Such a body is
    parsed again leniently so the good records of the page still land and the bad ones are
    quarantined one by one (bad bytes: `syncer.undecodable`). orjson's path is untouched: the
    fallback costs only the bodies orjson refused.
    """
    try:
        return Parsed(orjson.loads(body), True)
    except orjson.JSONDecodeError:
        pass
    _allow_deep_nesting()
    bad: BadBytes | None = None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text, bad = undecodable.read(body)
    try:
        return Parsed(json.loads(text), False, bad)
    except RecursionError:
        raise ValueError(f"JSON nested more than {STDLIB_DEPTH} levels deep") from None


def parse_json(body: bytes) -> tuple[Any, bool]:
    """`parse_body` for answers that are not pages (writes, token exchanges, error bodies):
    (value, strict); a body with bytes that are not UTF-8 is a ValueError here."""
    parsed = parse_body(body)
    if parsed.bad_bytes is not None:
        raise ValueError("the body holds bytes that are not UTF-8")
    return parsed.value, parsed.strict


#: how deep the stdlib parser and encoder may nest (Python's default, 1,000, is less than the
#: depth of a page holding a 1,000-deep record); measured safe on an 8 MB thread stack
STDLIB_DEPTH = 10_000


def _allow_deep_nesting() -> None:
    """Raise the interpreter's recursion limit to STDLIB_DEPTH (never lowers it)."""
    if sys.getrecursionlimit() < STDLIB_DEPTH:
        sys.setrecursionlimit(STDLIB_DEPTH)


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _raw_text(record: Any, bad_bytes: BadBytes | None = None) -> str:
    """The record as text for quarantine: lossless, and storable in a text column."""
    _allow_deep_nesting()
    if bad_bytes is not None and bad_bytes.where(record) is not None:
        return bad_bytes.raw(record)
    text = json.dumps(record, ensure_ascii=True, allow_nan=True, default=str)
    # Postgres text cannot hold NUL; the escaped form above never contains a raw NUL.
    return text


def _parse_time(value: Any, zone: str = "UTC") -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # a time without an offset ("2024-08-04 10:00:00", XtraKit) is in the stream's time zone
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone))


def _updated_value(record: dict[str, Any], cursor_field: str | None, view: ViewSpec) -> Any:
    """The record's updated-at value: its top-level `cursor_field`, else the view's `updated`
    path (a nested key, or a name in one of the view's {name, value} lists)."""
    if cursor_field:
        return record.get(cursor_field)
    if not view.updated:
        return None
    head, *rest = view.updated
    for listed in view.lists:
        if listed.list_key == head and len(rest) == 1:
            return pivot(record.get(head), listed).get(rest[0])
    value: Any = record
    for part in view.updated:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def prepare(
    records: Iterable[Any],
    key_of: Callable[[Any], str | None],
    cursor_field: str | None,
    *,
    lenient: bool,
    view: ViewSpec | None = None,
    bad_bytes: BadBytes | None = None,
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    known: frozenset[bytes] = frozenset(),
) -> Prepared:
    """Validate, canonicalise and hash one page; duplicate keys keep the newest record.

    `lenient` says the page needed the lenient parser, so values must be checked for NaN;
    `bad_bytes` (`Parsed.bad_bytes`) that its body held bytes that are not UTF-8. `redact`
    (`syncer.redact.Redaction.apply`) removes and hashes the stream's `exclude` and `hash`
    fields before the record is hashed, stored or looked at for the typed view. A record whose
    content hash is in `known` (the mirror held it last pass, syncer.memo) comes back without
    its text, and only its field paths are read, not their kinds.
    """
    view = view or ViewSpec()
    by_key: dict[str, Row] = {}
    duplicates = 0
    rejected: list[Rejected] = []
    accepted: list[dict[str, Any]] = []
    familiar: list[dict[str, Any]] = []  # records whose hash is known: paths only
    # the loop runs 1,000 times a page: its callables bound once (a page of 1,000 Exto records
    # all known but ten: 6.1 -> 5.7 ms)
    dumps, sort_keys, blake2b, make_row = (
        orjson.dumps,
        orjson.OPT_SORT_KEYS,
        hashlib.blake2b,
        Row._make,
    )
    zone = view.time_zone
    for record in records:
        if not isinstance(record, dict):
            raw = _raw_text(record, bad_bytes)
            rejected.append(Rejected(None, "record is not a JSON object", raw))
            continue
        key = key_of(record)
        # the vendor's updated-at drives the cursor: read before the lists apply
        stamp = record.get(cursor_field) if cursor_field else _updated_value(record, None, view)
        updated = _parse_time(stamp, zone)
        if redact is not None:
            # before anything is kept, the quarantine's copy included
            record = redact(record)
        if not key:
            rejected.append(Rejected(None, "record has no key", _raw_text(record, bad_bytes)))
            continue
        if bad_bytes is not None:
            refused = _undecodable(record, key, bad_bytes)
            if refused is not None:
                rejected.append(refused)
                continue
        if "\x00" in key:
            rejected.append(Rejected(None, "key contains a NUL character", _raw_text(record)))
            continue
        if not key.isascii():
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                reason = "key contains a lone surrogate"
                rejected.append(Rejected(None, reason, _raw_text(record)))
                continue
        if lenient and _has_non_finite(record):
            rejected.append(Rejected(key, "NaN or Infinity in a value", _raw_text(record)))
            continue
        try:
            text = dumps(record, option=sort_keys)  # canonical()
        except (TypeError, orjson.JSONEncodeError) as exc:
            rejected.append(Rejected(key, _unencodable(record, str(exc)), _raw_text(record)))
            continue
        if b"\\u0000" in text:
            where = "field name" if _in_a_name(record, "\x00") else "value"
            rejected.append(Rejected(key, f"NUL character in a {where}", _raw_text(record)))
            continue
        if len(text) > MAX_RECORD_BYTES:
            rejected.append(
                Rejected(key, f"record larger than {MAX_RECORD_BYTES} bytes", text.decode())
            )
            continue
        digest = blake2b(text, digest_size=HASH_BYTES).digest()
        if digest in known:
            row = make_row((key, "", digest, updated))
            familiar.append(record)
        else:
            row = make_row((key, text.decode(), digest, updated))
            accepted.append(record)
        previous = by_key.get(key)
        duplicates += previous is not None
        if previous is None or _newer_or_equal(row, previous):
            by_key[key] = row
    fields = page_fields(accepted, view)
    if not familiar:
        return Prepared(list(by_key.values()), rejected, fields, duplicates)
    paths = frozenset(page_paths(familiar, view).union(path for path, _ in fields))
    return Prepared(list(by_key.values()), rejected, fields, duplicates, paths=paths)


def _undecodable(record: dict[str, Any], key: str, bad_bytes: BadBytes) -> Rejected | None:
    """The rejection of a record holding bytes that are not UTF-8 (None when it holds none)."""
    if bad_bytes.within(key):
        return Rejected(None, "key contains bytes that are not UTF-8", bad_bytes.raw(record))
    where = bad_bytes.where(record)
    if where is None:
        return None
    return Rejected(key, f"bytes that are not UTF-8 in a {where}", bad_bytes.raw(record))


def _unencodable(record: Any, error: str) -> str:
    """The quarantine reason for a record orjson cannot encode."""
    if "surrogate" in error:
        where = "field name" if _in_a_name(record, _is_surrogate) else "value"
        return f"lone surrogate in a {where}"
    if "Recursion" in error:
        return f"nested more than {MAX_DEPTH} levels deep"
    return error


def _is_surrogate(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _in_a_name(record: Any, test: str | Callable[[str], bool]) -> bool:
    """Whether some object key in `record` contains `test` (a substring) or passes it."""
    check = test if callable(test) else (lambda name: test in name)
    stack = [record]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(check(name) for name in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _newer_or_equal(row: Row, previous: Row) -> bool:
    if row.updated_at is None or previous.updated_at is None:
        return True
    return row.updated_at >= previous.updated_at
