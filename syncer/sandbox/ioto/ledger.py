"""`AppliedWrite`: one state-changing write the Ioto sandbox applied, as syncer's tests read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppliedWrite:
    """An entry of `sb.ledger`: a create, update or remove that changed the data."""

    #: sandbox clock reading when the write was applied (the request log's clock)
    at: float
    #: "create", "update" or "remove"
    operation: str
    model: str
    #: the item's natural key, as in `GenerationResult` (Device id, Store "deviceId/key", Log id)
    key: str
    #: True when the write inserted the item (a create of a new key), else False
    created: bool
