"""Fields an analyst must not see: a stream's `exclude` paths are never stored (nor part of the
record's `_hash`), its `hash` paths are stored as a keyed hash, so joins on them still work.

A path is field names joined by dots (`customFields.email`, `user.email`); its last name may
end in `[entry]`, which names the item of a list of {name, value} objects whose name is
`entry` (Actito's `attributes[emailAddress]`: the item's value is hashed, or the whole item
left out). Where a list's name and value keys differ (Actito's `subscriptions`, whose value is
`subscribe`), the stream's `ViewSpec.lists` says so.

A hashed value becomes 64 lower-case hex characters: HMAC-SHA256 with the key in the
environment variable the connection's `hash_key_env` names, over the value's UTF-8 text (a
string) or its compact sorted JSON (any other value); null stays null. The same value gives
the same hash in every stream and connection with the same key. The key lives only in this
process's memory: never in a log, an error, a table or a command line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncer import errors
from syncer.models import ViewSpec

#: the fixed text whose keyed hash tells a new key from the old one (syncer.stream_redaction)
KEY_CHECK = "syncer: hash key check"

#: key -> HMAC-SHA256 keyed with it, copied for each value (a Redaction must stay picklable)
_MACS: dict[bytes, hmac.HMAC] = {}

_PATH = re.compile(r"^[^.\[\]]+(\.[^.\[\]]+)*(\[[^\[\]]+\])?$")


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A parsed path: the keys down to the field, and the list entry's name when it ends in
    `[entry]`."""

    keys: tuple[str, ...]
    entry: str | None = None

    def __str__(self) -> str:
        return ".".join(self.keys) + (f"[{self.entry}]" if self.entry is not None else "")


def parse_path(text: str) -> FieldPath:
    """`customFields.email` or `attributes[emailAddress]`; ValueError saying the syntax."""
    if not _PATH.match(text) or text != text.strip():
        raise ValueError(
            f"{text!r} is not a field path: use names joined by dots (customFields.email), the "
            "last one optionally followed by [entry] for an item of a {name, value} list "
            "(attributes[emailAddress])"
        )
    body, _, entry = text.partition("[")
    return FieldPath(tuple(body.split(".")), entry[:-1] if entry else None)


def check_lists(exclude: Sequence[str], hashed: Sequence[str]) -> None:
    """Each path parses, none twice, none both excluded and hashed (ValueError otherwise)."""
    for text in (*exclude, *hashed):
        parse_path(text)
    for name, paths in (("exclude", exclude), ("hash", hashed)):
        twice = sorted({p for p in paths if list(paths).count(p) > 1})
        if twice:
            raise ValueError(f"{name} lists {', '.join(twice)} more than once")
    both = sorted(set(exclude) & set(hashed))
    if both:
        raise ValueError(f"{', '.join(both)} cannot be both excluded and hashed")


@dataclass(frozen=True)
class Redaction:
    """One stream's excluded and hashed paths and the hash key (picklable: it travels to the
    page-decoding workers with each page; the key is left out of its repr)."""

    exclude: tuple[FieldPath, ...] = ()
    hashed: tuple[FieldPath, ...] = ()
    key: bytes = field(default=b"", repr=False)
    #: list key -> (name key, value key) of the stream's {name, value} lists
    lists: tuple[tuple[str, str, str], ...] = ()

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record` without its excluded fields and with its hashed ones hashed. The objects
        along a changed path are copied once (`record` itself is left as it was): a page's
        records cost one shallow copy each, and one per object a path goes through."""
        out = dict(record)
        fresh = {id(out)}
        for path in self.exclude:
            self._change(out, path, None, fresh)
        for path in self.hashed:
            self._change(out, path, self.digest, fresh)
        return out

    def key_check(self) -> str | None:
        """What tells this key from another without revealing it: the keyed hash of
        KEY_CHECK (None when nothing is hashed)."""
        return self.digest(KEY_CHECK) if self.hashed else None

    def digest(self, value: Any) -> Any:
        """The keyed hash of one value (64 lower-case hex characters); null stays null."""
        if value is None:
            return None
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
        else:
            text = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
            )
            data = text.encode("utf-8", "surrogatepass")
        mac = _MACS.get(self.key)
        if mac is None:
            # keyed once per process: each value then costs a copy and one update
            mac = _MACS[self.key] = hmac.new(self.key, digestmod=hashlib.sha256)
        one = mac.copy()
        one.update(data)
        return one.hexdigest()

    def _change(self, obj: dict[str, Any], path: FieldPath, change: Any, fresh: set[int]) -> None:
        """Remove (`change` None) or change the field at `path` in `obj`, a copy of this
        apply's; objects on the way are copied unless `fresh` says they already are."""
        for name in path.keys[:-1]:
            inner = obj.get(name)
            if not isinstance(inner, dict):
                return
            if id(inner) not in fresh:
                inner = obj[name] = dict(inner)
                fresh.add(id(inner))
            obj = inner
        name = path.keys[-1]
        if name not in obj:
            return
        if path.entry is not None:
            obj[name] = self._edit_entry(obj[name], name, path.entry, change)
        elif change is None:
            del obj[name]
        else:
            obj[name] = change(obj[name])

    def _edit_entry(self, items: Any, list_key: str, entry: str, change: Any) -> Any:
        """A {name, value} list with the item named `entry` dropped or its value changed."""
        if not isinstance(items, list):
            return items
        name_key, value_key = next(
            ((n, v) for k, n, v in self.lists if k == list_key), ("name", "value")
        )
        out: list[Any] = []
        touched = False
        for item in items:
            if isinstance(item, dict) and item.get(name_key) == entry:
                touched = True
                if change is None:
                    continue
                if value_key in item:
                    item = {**item, value_key: change(item[value_key])}
            out.append(item)
        return out if touched else items


def redaction(
    exclude: Iterable[str],
    hashed: Iterable[str],
    key_env: str | None,
    view: ViewSpec,
    where: str,
) -> Redaction | None:
    """The stream's Redaction (None when it excludes and hashes nothing). A `hash` list needs
    the key: without `hash_key_env`, or with the variable unset, a ConfigError naming it
    (`where` says which stream)."""
    exclude, hashed = tuple(exclude), tuple(hashed)
    if not exclude and not hashed:
        return None
    key = b""
    if hashed:
        if not key_env:
            raise errors.ConfigError(
                f"{where} hashes {', '.join(hashed)} but its connection sets no hash_key_env "
                "(the environment variable holding the hash key)"
            )
        value = os.environ.get(key_env, "").strip()
        if not value:
            raise errors.ConfigError(
                f"{where} hashes {', '.join(hashed)} but environment variable {key_env} (its "
                "connection's hash_key_env) is not set; export it with the hash key"
            )
        key = value.encode("utf-8")
    return Redaction(
        tuple(parse_path(p) for p in exclude),
        tuple(parse_path(p) for p in hashed),
        key,
        tuple((p.list_key, p.name_key, p.value_key) for p in view.lists),
    )


class _Lists(Protocol):
    @property
    def exclude(self) -> tuple[str, ...]: ...
    @property
    def hash(self) -> tuple[str, ...]: ...


class _Connection(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def hash_key_env(self) -> str | None: ...

    def stream_config(self, name: str) -> _Lists: ...


def for_stream(conn: _Connection, name: str, view: ViewSpec) -> Redaction | None:
    """Stream `name` of connection `conn` (a settings.ConnectionConfig): its `redaction`."""
    own = conn.stream_config(name)
    return redaction(own.exclude, own.hash, conn.hash_key_env, view, f"stream {conn.name}/{name}")


def applier(
    conn: _Connection, name: str, view: ViewSpec
) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """`for_stream(...).apply`, or None when the stream excludes and hashes nothing."""
    found = for_stream(conn, name, view)
    return found.apply if found is not None else None
