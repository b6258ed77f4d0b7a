"""Page bodies holding bytes that are not UTF-8: how they are read, how the records holding such
bytes are found, and how those records are shown in `syncer.quarantine`.

orjson refuses a whole body for one byte that is not UTF-8 (a Latin-1 `é`, a cut multi-byte
character), and every later run would meet the same page. Such a body is read instead with each
bad byte b standing for one private-use character, `base + b`, from a block of 128 characters
that the body does not otherwise hold (neither as text nor as a JSON escape): so those
characters in the parsed value are exactly the bad bytes, and a vendor's own `\\udc80` escape
(a lone surrogate, quarantined for that reason) is never mistaken for one.

    text, bad = read(body)  # body.decode("utf-8") raised UnicodeDecodeError
    bad.where(record)  # "value", "field name" or None
    bad.raw(record)  # JSON with each bad byte written \\xNN
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Python's surrogateescape decoding (PEP 383) turns bad byte b into U+DC00 + b (b >= 0x80)
_ESCAPED = re.compile("[\udc80-\udcff]+")
#: lone surrogates left in a value by the vendor's own escapes (`\ud800`); Postgres text cannot
#: hold them, so `raw` writes them as escapes
_SURROGATE = re.compile("[\ud800-\udfff]")
#: the high surrogates of planes 15 and 16 (private use): each names 1,024 code points, whose
#: first 256 give a block for bytes 0x80..0xFF
_HIGH_SURROGATES = range(0xDB80, 0xDC00)


class BadBytes:
    """How one body's bytes that are not UTF-8 were read: byte b is the character `base + b`."""

    def __init__(self, base: int) -> None:
        self.base = base
        block = f"[{chr(base + 0x80)}-{chr(base + 0xFF)}]"
        self._found = re.compile(block)
        self._shown = re.compile(f"{block}|{_SURROGATE.pattern}")

    def within(self, text: str) -> bool:
        """Whether `text` (a key, a field name, a value) holds a bad byte."""
        return self._found.search(text) is not None

    def where(self, record: Any) -> str | None:
        """Where `record` holds a bad byte: "field name", else "value", else None."""
        in_value = False
        stack = [record]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                in_value = in_value or self.within(item)
            elif isinstance(item, dict):
                if any(self.within(name) for name in item if isinstance(name, str)):
                    return "field name"
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return "value" if in_value else None

    def raw(self, record: Any) -> str:
        """`record` as JSON text for the quarantine: valid text as it is, each bad byte written
        `\\xNN` (JSON has no `\\x` escape, and writes a backslash of the text as `\\\\`, so the
        two cannot be confused) and each lone surrogate as its `\\uXXXX` escape."""
        text = json.dumps(record, ensure_ascii=False, allow_nan=True, default=str)
        return self._shown.sub(self._show, text)

    def _show(self, match: re.Match[str]) -> str:
        code = ord(match.group())
        if self.base + 0x80 <= code <= self.base + 0xFF:
            return f"\\x{code - self.base:02x}"
        return f"\\u{code:04x}"


def read(body: bytes) -> tuple[str, BadBytes]:
    """The text of a body that is not UTF-8, its bad bytes as characters of a free block.

    Raises ValueError when every block is taken (a body holding characters of all 128 blocks;
    never seen, but then the body is refused like one that is not JSON).
    """
    text = body.decode("utf-8", "surrogateescape")
    base = _free_block(text, body)
    return _ESCAPED.sub(lambda run: _moved(run.group(), base), text), BadBytes(base)


def _free_block(text: str, body: bytes) -> int:
    """The base of the first block none of whose characters the body holds, as text or as an
    escape (any escape of the block's high surrogate counts: it might spell one of them)."""
    for high in _HIGH_SURROGATES:
        base = 0x10000 + ((high - 0xD800) << 10)
        block = re.compile(f"[{chr(base + 0x80)}-{chr(base + 0xFF)}]")
        escaped = re.compile(rb"\\u" + f"{high:04x}".encode(), re.IGNORECASE)
        if block.search(text) is None and escaped.search(body) is None:
            return base
    raise ValueError("the body holds bytes that are not UTF-8 and characters of every block")


def _moved(run: str, base: int) -> str:
    """Surrogate-escaped bytes (U+DC80..U+DCFF) as the characters of the block at `base`."""
    return "".join(chr(base + ord(char) - 0xDC00) for char in run)
