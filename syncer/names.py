"""Safe Postgres identifiers from config and vendor strings (DESIGN invariant 10).

Every identifier syncer creates passes through `identifier()`: lower-case ASCII letters, digits
and `_`, at most 63 bytes, never starting with a digit. A name that had to be shortened keeps a
short hash of the original so distinct long names stay distinct, and the same input always
gives the same name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

MAX_BYTES = 63
_SAFE = re.compile(r"^[a-z_][a-z0-9_]*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9_]+")


def _digest(raw: str) -> str:
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def identifier(raw: str) -> str:
    """A valid identifier for `raw`, stable across runs.

    >>> identifier("serial_number"), identifier("updatedAt"), identifier("Date of birth")
    ('serial_number', 'updated_at', 'date_of_birth')
    """
    spaced = _CAMEL.sub("_", raw)
    folded = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode().lower()
    base = _NOT_WORD.sub("_", folded).strip("_") or "x"
    if base[0].isdigit():
        base = "_" + base
    if len(base) <= MAX_BYTES:
        return base
    return f"{base[: MAX_BYTES - 9]}_{_digest(raw)}"


def quote(name: str) -> str:
    """Double-quote an identifier that `identifier()` produced; anything else is refused."""
    if not _SAFE.match(name) or len(name.encode()) > MAX_BYTES:
        raise ValueError(f"refusing to quote unsafe identifier {name!r}")
    return f'"{name}"'


def assign_columns(fields: Iterable[tuple[str, str]], reserved: set[str]) -> dict[str, str]:
    """Map (unique raw key, wanted name) pairs to distinct column names.

    Pairs are taken in the order given; a name already taken gets a hash of its raw key.
    """
    out: dict[str, str] = {}
    taken = set(reserved)
    for raw, wanted in fields:
        name = identifier(wanted)
        if name in taken:
            name = f"{name[: MAX_BYTES - 9]}_{_digest(raw)}"
        taken.add(name)
        out[raw] = name
    return out
