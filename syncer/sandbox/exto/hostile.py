"""Hostile field names (`ExtoConfig.hostile_names`): customFields keys that break naive mirrors.

`names(seed, count)` is `count` distinct names: the fixed CATEGORIES first (SQL metacharacters,
quotes, 200-byte UTF-8, reserved words, case and truncation collisions, whitespace, dots and
slashes, emoji, leading digits, the empty string), then variations drawn from a seeded RNG. None
holds U+0000 or a lone surrogate (those are the poison corpus's). `with_names` puts a few of them
on each generated master record, rotating through the list.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from syncer.sandbox.exto.fields import Record

#: 72 ASCII bytes: names starting with it collide when cut to 63 bytes (Postgres) or to 70
_LONG = "truncation_collision_" + "x" * 51

#: the fixed names, by what makes them hostile; `names()` starts with them, in this order
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "sql": (
        "'; DROP TABLE x; --",
        '"',
        "$$",
        "\\",
        "%",
        ";",
        "/*",
        "*/",
        "--",
        "a' OR '1'='1",
        "%s",
        "$1",
    ),
    "quotes": ("'", "''", "it's", 'say "hi"', '""', "`tick`"),
    "utf8_200_bytes": ("é" * 100, "é" * 99 + "ê", "名" * 66 + "ab", "😀" * 50),
    "reserved": (
        "select",
        "from",
        "table",
        "user",
        "order",
        "group",
        "where",
        "default",
        "_pk",
        "_data",
        "_deleted_at",
        "oid",
        "ctid",
        "xmin",
        "xmax",
        "tableoid",
        "id",
        "updatedAt",
        "createdAt",
        "isDeleted",
    ),
    "case": ("Name", "NAME", "name", "Select", "SELECT", "straße", "STRASSE"),
    "truncation": (_LONG + "_a", _LONG + "_b", _LONG + "_c", "y" * 63, "y" * 64),
    "whitespace": (" ", "  ", " leading", "trailing ", "tab\there", "\t", "new\nline", "cr\rhere"),
    "dots_slashes": (".", "..", "a.b", "address.zip", "a/b", "/", "../etc/passwd"),
    "emoji": ("😀", "field_🔥", "👩‍💻", "🇫🇷"),
    "digit_start": ("1st", "2024", "0", "3.14", "1e5"),
    "empty": ("",),
}
CORE: tuple[str, ...] = tuple(name for names in CATEGORIES.values() for name in names)
#: how many names each generated master record carries
PER_RECORD = 5

#: what generated names are made of (no digits: the counter between them keeps names distinct)
_PREFIXES = (
    "",
    "'",
    '"',
    "$$",
    "\\",
    "%",
    ";",
    "/*",
    " ",
    "\t",
    "\n",
    ".",
    "/",
    "é",
    "名",
    "😀",
    "select_",
    "Name_",
    "NAME_",
    "name_",
    _LONG,
)
_SUFFIXES = ("", "'", '"', " ", ".", "/", "--", "é", "🔥", "_x", "X", "x")


def names(seed: int, count: int) -> tuple[str, ...]:
    """`count` distinct hostile names for `seed`: CORE (cut to `count`), then variations."""
    chosen = list(CORE[:count])
    taken = set(chosen)
    rng = random.Random(f"{seed}:hostile-names")
    number = 0
    while len(chosen) < count:
        number += 1
        name = rng.choice(_PREFIXES) + str(number) + rng.choice(_SUFFIXES)
        if name not in taken:
            taken.add(name)
            chosen.append(name)
    return tuple(chosen)


def with_names(records: Iterator[Record], hostile: Sequence[str]) -> Iterator[Record]:
    """`records` with PER_RECORD hostile names each (fewer if there are fewer names) added to
    customFields: record i gets names (i·PER_RECORD + j) mod N, j = 0..PER_RECORD-1. A name the
    record already has (`name`) keeps its value."""
    count = len(hostile)
    if not count:
        yield from records
        return
    per_record = min(PER_RECORD, count)
    for i, record in enumerate(records):
        custom = record["customFields"]
        for j in range(per_record):
            index = (i * per_record + j) % count
            custom.setdefault(hostile[index], value(index, i))
        yield record


def value(index: int, record: int) -> Any:
    """The value of name `index` on generated record `record`: small, and of one type per name
    (index mod 3: 0 an integer 0..99, 1 a string `v0`..`v99`, 2 a boolean)."""
    small = (index + record) % 100
    kind = index % 3
    if kind == 0:
        return small
    if kind == 1:
        return "v" + str(small)
    return small % 2 == 0
