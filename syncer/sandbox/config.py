"""The sandbox's knobs: dataset shape (fixed at start) and behaviour (changeable at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

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
        checked: dict[str, object] = {}
        for name, value in changes.items():
            kind = RUNTIME_KNOBS.get(name)
            if kind is None:
                known = ", ".join(RUNTIME_KNOBS)
                raise ValueError(f"unknown or read-only knob {name!r} (runtime knobs: {known})")
            checked[name] = _check(name, kind, value)
        for name, value in checked.items():
            setattr(self, name, value)
        return {name: getattr(self, name) for name in checked}

    def runtime_knobs(self) -> dict[str, object]:
        """The current values of every runtime knob."""
        return {name: getattr(self, name) for name in RUNTIME_KNOBS}

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (tokens are not shown)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tokens"}


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` if it fits knob `name` of type `kind`, else raise ValueError."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if kind is str:
        if value not in ("rows", "array"):
            raise ValueError(f"{name} must be 'rows' or 'array'")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{name} must be an integer")
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return int(value) if kind is int else float(value)
