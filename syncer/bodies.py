"""What a 2xx answer that is not JSON was, in words for the run's error: a maintenance page, a
captive portal or a proxy's error page tells the operator more than "invalid JSON".

    describe(b"<!DOCTYPE html><title>Down</title>...", "text/html; charset=utf-8")
    # 'an HTML page (text/html, 37 bytes, title "Down") instead of JSON'
"""

from __future__ import annotations

import html
import re

#: how an HTML document starts (after whitespace and a byte-order mark), when its Content-Type
#: does not say so
_HTML_START = re.compile(rb"\s*(?:\xef\xbb\xbf)?\s*<(?:!doctype\s+html|html|head|body)", re.I)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.I | re.S)
#: the longest title quoted (a page's title is a sentence at most)
MAX_TITLE = 80


def describe(body: bytes, content_type: str | None) -> str:
    """`an HTML page (...) instead of JSON` or `a body that is not JSON (...)`, with its media
    type, its size and, for HTML, its title."""
    media = (content_type or "").split(";")[0].strip().lower()
    facts = [media or "no Content-Type", f"{len(body):,} bytes"]
    if "html" in media or _HTML_START.match(body[:1024]):
        title = _title(body)
        if title:
            facts.append(f'title "{title}"')
        return f"an HTML page ({', '.join(facts)}) instead of JSON"
    return f"a body that is not JSON ({', '.join(facts)})"


def _title(body: bytes) -> str:
    """The page's <title>, entities decoded and whitespace folded, cut to MAX_TITLE."""
    found = _TITLE.search(body[:65_536])
    if found is None:
        return ""
    text = " ".join(html.unescape(found.group(1).decode("utf-8", "replace")).split())
    text = "".join(char for char in text if char.isprintable())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"
