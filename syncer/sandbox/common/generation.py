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
