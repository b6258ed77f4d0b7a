"""Whether a pass saw everything: the evidence it gathers page by page.

A full pass may infer deletes only when its own evidence agrees with what the vendor reported
(DESIGN.md, invariant 4). Vendors' documents never promise that `total` and `totalPages` are
exact, that every page but the last is full, or that `page` is honoured, so each page is checked
against the counts that same answer reports:

- with a `total`, page n must hold exactly min(page size, total - offset) records: a short or
  empty page in the middle, or records past the end, contradict it; `totalPages`, when also
  given, must be the page count that total makes;
- with only `totalPages`, every page before the last must be full, and no page after it may
  hold records;
- with no counts at all, no page may hold records after a page that held fewer than a full page;
- no page may hold exactly the records of an earlier page of the pass (a vendor that ignores
  `page` answers page 1 again and again): reading stops there, never an endless pass.

Each page is checked against its own answer's counts, so counts that move while a live
collection changes under offset paging are not a contradiction; a key skipped by such a shift
is confirmed by the delete rules (re-read by key, or missing twice), not here.

A contradiction does not stop the pass (but for a repeated page): what was read is merged, and
the pass ends *incomplete*: no deletes inferred, the cursor not moved, the reasons kept in the
run's warnings. Problems are committed with the checkpoint of the page that showed them, so a
resumed pass still knows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

#: problems kept per pass; more are counted, not listed
MAX_PROBLEMS = 20


class PageCounts(Protocol):
    """What the evidence needs to know of a fetched page."""

    @property
    def item_count(self) -> int: ...
    @property
    def total_pages(self) -> int | None: ...
    @property
    def total_records(self) -> int | None: ...
    @property
    def paginated(self) -> bool: ...
    @property
    def fingerprint(self) -> bytes | None: ...


@dataclass
class PassEvidence:
    """The completeness evidence of one pass; `observe` each page in order.

    `arithmetic=False` for cursor paging, where pages have no offset to check counts against.
    `state` is what `saved()` returned with the last checkpoint (None for a new pass), and
    `problems` the problems already committed.
    """

    page_size: int
    arithmetic: bool = True
    problems: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None
    #: problems found since the last `take()`, to commit with the next checkpoint
    _unsaved: list[str] = field(default_factory=list)
    #: fingerprint -> page number, for the pages of this pass seen by this process
    _seen: dict[bytes, int] = field(default_factory=dict)
    #: the first page that held fewer than a full page
    _first_short: int | None = None
    _dropped: int = 0

    def __post_init__(self) -> None:
        if self.state:
            self._first_short = self.state.get("first_short")
            last = self.state.get("fingerprint")
            if isinstance(last, str) and isinstance(self.state.get("page"), int):
                self._seen[bytes.fromhex(last)] = self.state["page"]

    @property
    def complete(self) -> bool:
        """Whether nothing so far contradicts the vendor's report."""
        return not self.problems

    def observe(self, number: int, page: PageCounts) -> bool:
        """Check page `number`; False when it repeats an earlier page (stop reading there)."""
        fingerprint = page.fingerprint
        if fingerprint is not None:
            earlier = self._seen.get(fingerprint)
            if earlier is not None:
                self.note(
                    f"page {number} held the same records as page {earlier}: the vendor "
                    "ignored the page number or looped; stopped reading there"
                )
                return False
            self._seen[fingerprint] = number
            self.state = {"fingerprint": fingerprint.hex(), "page": number}
        else:
            self.state = {**(self.state or {}), "page": number}
        if self.arithmetic and page.paginated:
            self._check_counts(number, page)
        if page.item_count < self.page_size and self._first_short is None:
            self._first_short = number
        if self._first_short is not None:
            self.state["first_short"] = self._first_short
        return True

    def _check_counts(self, number: int, page: PageCounts) -> None:
        size, items = self.page_size, page.item_count
        total, pages = page.total_records, page.total_pages
        if total is not None:
            expected = min(size, max(0, total - (number - 1) * size))
            if items != expected:
                self.note(
                    f"page {number} held {items} records where the vendor's total of {total} "
                    f"means {expected} at {size} per page"
                )
            implied = math.ceil(total / size)
            if pages is not None and pages not in (implied, max(1, implied)):
                self.note(
                    f"page {number} reported totalPages {pages}, but a total of {total} at "
                    f"{size} per page is {implied} pages"
                )
        elif pages is not None:
            if number < pages and items < size:
                self.note(
                    f"page {number} held {items} of {size} records before the last page "
                    f"({pages}) the vendor reported"
                )
            if number > pages and items > 0:
                self.note(
                    f"page {number} held {items} records past the {pages} pages the vendor reported"
                )
        elif items > 0 and self._first_short is not None and number > self._first_short:
            self.note(
                f"page {self._first_short} held fewer than {size} records, yet page {number} "
                f"held {items}"
            )

    def note(self, problem: str) -> None:
        """Record a reason the pass is incomplete."""
        if problem in self.problems:
            return
        if len(self.problems) >= MAX_PROBLEMS:
            self._dropped += 1
            return
        self.problems.append(problem)
        self._unsaved.append(problem)

    def take(self) -> list[str]:
        """The problems found since the last call, to commit with a checkpoint."""
        taken, self._unsaved = self._unsaved, []
        return taken

    def summary(self) -> str:
        """The reasons, as one warning."""
        more = f" (and {self._dropped} more)" if self._dropped else ""
        return "; ".join(self.problems) + more
