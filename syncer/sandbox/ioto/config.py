"""`IotoConfig`: the Ioto sandbox's knobs — dataset shape (fixed at start) and live behaviour."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from syncer.sandbox.common.knobs import apply_knobs, check_knob, describe_knobs
from syncer.sandbox.common.ratelimit import LIMITER_RUNTIME, LimiterKnobs
from syncer.sandbox.ioto.items import claim_id

DEFAULT_TOKEN = "sandbox-ioto-token"
DEFAULT_ACCOUNT = "01SANDBOXACCOUNT000000000"


def _foreign_ids(count: int) -> tuple[str, ...]:
    """Claim ids of devices another account owns, the same for every seed (that one also names a
    generated device is vanishingly unlikely; if it does, the device counts as foreign)."""
    rng = random.Random("ioto:foreign-devices")
    ids: list[str] = []
    for _ in range(count):
        ids.append(claim_id(rng, ids))
    return tuple(ids)


#: device ids that belong to another account (writes naming them → 403)
DEFAULT_FOREIGN_DEVICES = _foreign_ids(2)

#: knobs that `POST /_sandbox/config` (and tests) may change while the sandbox runs, and their types
RUNTIME_KNOBS: Mapping[str, type] = {
    "max_limit": int,
    "default_limit": int,
    "page_bytes_cap": int,
    "filtered_ratio": float,
    "empty_page_every": int,
    # the throttle's kind (docs/vendors/ioto.md, "Throttle")
    **LIMITER_RUNTIME,
    "unknown_route_403": bool,
    "latency_ms": float,
    "churn_inserts_per_page": int,
    "churn_deletes_per_page": int,
    "foreign_devices": tuple,
    "write_delay_ms": float,
    "write_fail_after_apply": int,
}


@dataclass
class IotoConfig(LimiterKnobs):
    """Everything the Ioto sandbox can be told.

    The dataset fields (seed, sizes, account_id) are read once by `create_app`; `tokens` and the
    runtime knobs are read on every request, so tests may assign them between requests
    (`sb.config.filtered_ratio = 0.5`).
    """

    seed: int = 1
    devices: int = 5_000
    store_items: int = 5_000
    logs: int = 5_000
    #: accepted CloudAPI tokens (sent bare or as `Bearer <token>`)
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    #: the one account that owns every device, store item and log
    account_id: str = DEFAULT_ACCOUNT
    #: largest accepted `limit`; above it → 400
    max_limit: int = 1000
    #: `limit` when the request gives none (our assumption; older docs say 1)
    default_limit: int = 100
    #: stop a page once its evaluated items' JSON would pass this many bytes (0 = off)
    page_bytes_cap: int = 0
    #: share of items (fixed per item) a hidden attribute filter drops after evaluation
    filtered_ratio: float = 0.0
    #: every Nth find page served is empty but still carries `next` (0 = off)
    empty_page_every: int = 0
    #: requests admitted in any 1-second window (counted the `limiter` way), all tokens
    #: together (0 = unlimited)
    rate_limit: int = 0
    #: answer unknown routes and non-POST methods like API Gateway (403) instead of 400
    unknown_route_403: bool = False
    #: added to every logged request, after the throttle decision
    latency_ms: float = 0.0
    #: after each non-empty find page: items inserted and deleted in the model just paged
    churn_inserts_per_page: int = 0
    churn_deletes_per_page: int = 0
    #: device ids claimed by another account: a write or get naming one → 403 text
    foreign_devices: tuple[str, ...] = DEFAULT_FOREIGN_DEVICES
    #: a create, update or remove is applied, then answered after this many ms
    write_delay_ms: float = 0.0
    #: the next N state-changing writes are applied, then answered 500 text (counts down)
    write_fail_after_apply: int = 0

    def __post_init__(self) -> None:
        self.tokens = tuple(self.tokens)
        for name in ("devices", "store_items", "logs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.devices == 0 and (self.store_items or self.logs):
            raise ValueError("store_items and logs need devices >= 1 to belong to")
        if not self.account_id or "#" in self.account_id:
            raise ValueError("account_id must be non-empty and contain no '#'")
        self.apply({name: getattr(self, name) for name in RUNTIME_KNOBS})

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Validate and set runtime knobs; return their new values.

        Raises ValueError (changing nothing) for an unknown knob or a bad value.
        """
        return apply_knobs(self, RUNTIME_KNOBS, changes, _check)

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (tokens are not shown)."""
        return describe_knobs(self, hide="tokens")


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` if it fits knob `name` of type `kind`, else raise ValueError."""
    checked = check_knob(name, kind, value)
    if isinstance(checked, int | float):
        if name in ("max_limit", "default_limit") and checked < 1:
            raise ValueError(f"{name} must be >= 1")
        if name == "filtered_ratio" and checked > 1:
            raise ValueError("filtered_ratio must be between 0 and 1")
    return checked
