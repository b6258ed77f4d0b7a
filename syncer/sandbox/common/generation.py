"""`GenerationResult`: what one `generation()` of a vendor's sandbox did to its data.

Every vendor's data moves on the same way (`POST /_sandbox/generation`, `sb.generation()`): some
records change, some are deleted, some are inserted. The keys are the vendor's own: Exto's `_id`s,
Actito's profileIds then business keys, XtraKit's ids per collection, Ioto's natural keys per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Keys = TypeVar("Keys")


@dataclass(frozen=True)
class GenerationResult(Generic[Keys]):
    """The keys one generation changed, deleted and inserted, and the generation's number."""

    changed: Keys
    deleted: Keys
    inserted: Keys
    generation: int = 0

    def outcome(self) -> dict[str, Keys]:
        """`{"changed": ..., "deleted": ..., "inserted": ...}`: the keys, for a control answer."""
        return {"changed": self.changed, "deleted": self.deleted, "inserted": self.inserted}


def shares(
    live: int, change_pct: float, delete_pct: float, insert_pct: float
) -> tuple[int, int, int]:
    """How many of `live` records a generation changes, deletes and inserts: each percentage of
    `live`, rounded half up (the rule of all four vendors' generations)."""

    def share(pct: float) -> int:
        return int(live * pct / 100 + 0.5)

    return share(change_pct), share(delete_pct), share(insert_pct)
