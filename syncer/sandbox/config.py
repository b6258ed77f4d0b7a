"""The sandbox's knobs: dataset shape (fixed at start) and behaviour (changeable at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from syncer.sandbox.knobs import apply_knobs, check_value, describe_knobs

Envelope = Literal["rows", "array"]

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_MASTER = "LOCATION"
DEFAULT_MODULE = "INSPECTION"

#: knobs that `POST /_sandbox/config` (and tests) may change while the sandbox runs, and their types
RUNTIME_KNOBS: Mapping[str, type] = {
    "latency_ms": float,
    "rate_limit": int,
    "retry_after": bool,
    "churn_inserts_per_page": int,
    "churn_deletes_per_page": int,
    "envelope": str,
}


@dataclass
class SandboxConfig:
    """Everything the Exto sandbox can be told.

    The dataset fields (seed, sizes, names, tokens, poison) are read once by `create_app`; the
    behaviour fields are read on every request, so tests may assign them between requests
    (`sb.config.rate_limit = 0`).
    """

    seed: int = 1
    master_name: str = DEFAULT_MASTER
    master_records: int = 50_000
    module_name: str = DEFAULT_MODULE
    module_records: int = 2_000
    users: int = 300
    projects: int = 40
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    #: accepted requests per token in any 1-second sliding window; 0 = unlimited
    rate_limit: int = 3
    #: send `Retry-After: 1` with 429 responses (Exto does not document one)
    retry_after: bool = False
    #: added to every data request, after the rate-limit decision
    latency_ms: float = 0.0
    envelope: Envelope = "rows"
    #: after each non-empty master/module page: records inserted (sorting early) and deleted
    #: (among those before the page)
    churn_inserts_per_page: int = 0
    churn_deletes_per_page: int = 0
    #: add master records a careful client must quarantine: NUL, lone surrogate, NaN, no _id,
    #: over 10 MB, a duplicated _id
    poison: bool = False

    def __post_init__(self) -> None:
        self.master_name = self.master_name.upper()
        self.module_name = self.module_name.upper()
        self.tokens = tuple(self.tokens)
        for name in ("master_records", "module_records", "users", "projects"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.projects < 1:
            raise ValueError("projects must be >= 1")
        self.apply({name: getattr(self, name) for name in RUNTIME_KNOBS})

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Validate and set runtime knobs; return their new values.

        Raises ValueError (changing nothing) for an unknown knob or a bad value.
        """
        return apply_knobs(self, RUNTIME_KNOBS, changes, _check)

    def runtime_knobs(self) -> dict[str, object]:
        """The current values of every runtime knob."""
        return {name: getattr(self, name) for name in RUNTIME_KNOBS}

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (tokens are not shown)."""
        return describe_knobs(self, hide="tokens")


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` if it fits knob `name` of type `kind`, else raise ValueError."""
    if kind is str:
        if value not in ("rows", "array"):
            raise ValueError(f"{name} must be 'rows' or 'array'")
        return value
    return check_value(name, kind, value)
