"""What Exto's write answers and push rows look like, shared by its push specs (vendors.md
§2.5, §2.7): record ids, key values, counts, and which errors are about a request as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: most rows per master, module or sub-table write, and usernames per (de)activation
MAX_ROWS = 1000


def record_id(record: Any) -> str | None:
    """A record's `_id` (or `id`)."""
    value = record.get("_id") or record.get("id")
    return value if isinstance(value, str) else None


def text(value: Any) -> str | None:
    """A key value as text: strings and numbers only."""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return None
    return str(value)


def counts_add_up(body: Any, sent: int) -> bool:
    """`{insertedCount, updatedCount}` accounting for every row sent."""
    if not isinstance(body, dict):
        return False
    counts = (body.get("insertedCount", 0), body.get("updatedCount"))
    return all(isinstance(c, int) for c in counts) and sum(counts) == sent


def not_object(row: Any) -> str | None:
    """Why a payload cannot be a row: it is not a JSON object (None when it is one)."""
    return None if isinstance(row, dict) else "the payload is not a JSON object"


#: an error answer about one record or user, not about the request as a whole
ABOUT_ONE = re.compile(r"no matching record|record \S+ not found|user \S+ not found")


def whole_request(kind: str = "", name: str = "") -> Callable[[int | None, str], str | None]:
    """Exto's answers about the request itself rather than its rows (docs/push.md): the
    master or module does not exist (`<NAME> not Found.`: a 404 in the sandbox, a 500 in
    vendors.md's example), the acting user is missing or inactive (400), or a 404 or 405 that
    names no record or user (the path does not exist: the base URL is wrong)."""
    missing = f"{name.lower()} not found" if name else None

    def check(status: int | None, error: str) -> str | None:
        low = error.lower()
        if missing is not None and missing in low:
            return f"Exto has no {kind} {name.upper()}; check the endpoint's name"
        if "missing username" in low or "user not found or active" in low:
            return "the acting user is missing or not an active Exto user; set options.user_name"
        if status in (404, 405) and not ABOUT_ONE.search(low):
            return f"Exto answered {status} for the path itself; check the connection's base_url"
        return None

    return check


def delete_refused(body: Any) -> str | None:
    """A delete's 2xx answer that still refuses it (`success: false`): why; else None."""
    if isinstance(body, dict) and body.get("success") is False:
        return f"Exto refused the delete: {body.get('message') or 'success: false'}"
    return None
