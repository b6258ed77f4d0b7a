"""The Exto sandbox's paging lies (docs/sandbox.md "Paging lies"): master and module pages that
disagree with the counts the same answer reports, the way a buggy or overloaded vendor might.

Nothing in Exto's documents says `total` and `totalPages` are exact, that every page but the last
is full, or that `page` is honoured; a careful client must survive each of these:

- `short_pages`: these page numbers come back one record short (the last one dropped);
- `empty_pages`: these page numbers come back with no records at all;
- `repeat_pages`: these page numbers come back holding the page before them;
- `ignore_page`: every page request is answered as page 1 (the vendor ignores `page`);
- `total_delta`, `total_pages_delta`: added to the reported `total` and `totalPages` (a lie);
- `totals_wobble`: each answer moves `total` by a seeded random amount in [-w, w] (totals that
  change from page to page with nothing changing underneath).

Counts are computed from the truth first, then the lies are applied, so a short page still
reports the true `total`.

    lie = PagingLies.of(config)
    offset, keep = lie.window(page=3, size=100)      # which records the page holds
    counts = lie.counts(page=3, size=100, total=3000)  # what it says about the whole
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol


class LieKnobs(Protocol):
    """The knobs this module reads (ExtoConfig has them)."""

    short_pages: tuple[int, ...]
    empty_pages: tuple[int, ...]
    repeat_pages: tuple[int, ...]
    ignore_page: bool
    total_delta: int
    total_pages_delta: int
    totals_wobble: int
    fault_seed: int


@dataclass
class PagingLies:
    """The lies one answer tells, read from the knobs when the request arrives."""

    short_pages: frozenset[int] = frozenset()
    empty_pages: frozenset[int] = frozenset()
    repeat_pages: frozenset[int] = frozenset()
    ignore_page: bool = False
    total_delta: int = 0
    total_pages_delta: int = 0
    totals_wobble: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def of(cls, knobs: LieKnobs, rng: random.Random) -> PagingLies:
        return cls(
            frozenset(knobs.short_pages),
            frozenset(knobs.empty_pages),
            frozenset(knobs.repeat_pages),
            knobs.ignore_page,
            knobs.total_delta,
            knobs.total_pages_delta,
            knobs.totals_wobble,
            rng,
        )

    @property
    def any(self) -> bool:
        return bool(
            self.short_pages
            or self.empty_pages
            or self.repeat_pages
            or self.ignore_page
            or self.total_delta
            or self.total_pages_delta
            or self.totals_wobble
        )

    def window(self, page: int, size: int) -> tuple[int, int]:
        """(offset, how many records) the answer to page `page` holds, at most `size`."""
        if self.ignore_page:
            page = 1
        if page in self.repeat_pages and page > 1:
            page -= 1
        offset = (page - 1) * size
        if page in self.empty_pages:
            return offset, 0
        if page in self.short_pages:
            return offset, size - 1
        return offset, size

    def counts(self, page: int, size: int, total: int) -> dict[str, Any]:
        """`{total, page, pageSize, totalPages}` as this answer reports them."""
        reported = total + self.total_delta
        if self.totals_wobble:
            reported += self.rng.randint(-self.totals_wobble, self.totals_wobble)
        reported = max(0, reported)
        pages = math.ceil(reported / size) + self.total_pages_delta
        return {
            "total": reported,
            "page": 1 if self.ignore_page else page,
            "pageSize": size,
            "totalPages": max(0, pages),
        }
