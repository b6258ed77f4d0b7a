"""`ActitoConfig`: the Actito sandbox's knobs: dataset shape (fixed) and behaviour (live)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncer.sandbox.common.knobs import apply_knobs, check_knob, describe_knobs
from syncer.sandbox.common.ratelimit import LIMITER_RUNTIME, LimiterKnobs

DEFAULT_API_KEY = "sandbox-actito-key"
DEFAULT_ENTITY = "sandbox"
DEFAULT_PROFILE_TABLE = "customers"
DEFAULT_CUSTOM_TABLE = "orders"

#: knobs that `POST /_sandbox/config` (and tests) may change while the sandbox runs, and their types
RUNTIME_KNOBS: Mapping[str, type] = {
    "api_keys": tuple,
    "token_ttl_seconds": int,
    "max_concurrent": int,
    # how rate_limit is counted (docs/vendors/actito.md, "Licence limits")
    **LIMITER_RUNTIME,
    "throttle_ms_per_excess_call": float,
    "latency_ms": float,
    "default_limit": int,
    "list_max_limit": int,
    "retry_after": bool,
    "churn_inserts_per_page": int,
    "churn_deletes_per_page": int,
    "forbidden_tables": tuple,
    "cascade_deletes": bool,
    "write_delay_ms": float,
    "write_fail_after_apply": int,
}
#: runtime knobs that must stay >= 1 (the others may be 0)
_POSITIVE = frozenset({"token_ttl_seconds", "default_limit", "list_max_limit"})


@dataclass
class ActitoConfig(LimiterKnobs):
    """Everything the Actito sandbox can be told.

    The dataset fields (seed, names, sizes) are read once by `create_app`; the others are read on
    every request, so tests may assign them between requests (`sb.config.max_concurrent = 0`).
    """

    seed: int = 1
    entity: str = DEFAULT_ENTITY
    profile_table: str = DEFAULT_PROFILE_TABLE
    profiles: int = 5_000
    custom_table: str = DEFAULT_CUSTOM_TABLE
    custom_records: int = 5_000
    #: API keys that `GET /auth/token` exchanges; removing one revokes the tokens it issued
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    #: lifetime of a token issued from now on (Actito: 15 min); tests shorten it
    token_ttl_seconds: int = 900
    #: data requests in flight per licence; one more is refused with 429 at once; 0 = no cap
    max_concurrent: int = 5
    #: calls per 60 s (counted the `limiter` way: `limits.CallWindow`) before responses slow
    #: down (never refused); 0 = never slow down
    rate_limit: int = 100
    #: latency added per call over `rate_limit` in the last 60 s
    throttle_ms_per_excess_call: float = 200.0
    #: latency added to every accepted data request
    latency_ms: float = 0.0
    #: `limit` when a list request sends none (vendors.md §3.3 [A]: start at 100)
    default_limit: int = 100
    #: the largest `limit` a list accepts; above it -> 400
    list_max_limit: int = 1000
    #: send `Retry-After: 1` with 429 responses (Actito documents none)
    retry_after: bool = False
    #: after each non-empty list page of a table: records inserted (new keys above the max) and
    #: deleted (anywhere in the table)
    churn_inserts_per_page: int = 0
    churn_deletes_per_page: int = 0
    #: tables (profile or custom, by name) the API key has no right on: their data routes -> 403
    forbidden_tables: tuple[str, ...] = ()
    #: deleting a profile (generation, churn, API delete) also deletes the custom records
    #: linked to it through the `customerId` foreign key (onDelete CASCADE); off by default so
    #: that `generation()` deletes exactly the asked share of each table
    cascade_deletes: bool = False
    #: latency added to every applied write after it is applied, before it is answered
    write_delay_ms: float = 0.0
    #: the next N applied writes are answered 504 (applied all the same); counts down to 0
    write_fail_after_apply: int = 0

    def __post_init__(self) -> None:
        for name in ("entity", "profile_table", "custom_table"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        for name in ("profiles", "custom_records"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        self.apply({name: getattr(self, name) for name in RUNTIME_KNOBS})

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Validate and set runtime knobs; return their new values.

        Raises ValueError (changing nothing) for an unknown knob or a bad value.
        """
        return apply_knobs(self, RUNTIME_KNOBS, changes, _check)

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (API keys are not shown)."""
        return describe_knobs(self, hide="api_keys")


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` (normalised) if it fits knob `name` of type `kind`, else raise ValueError."""
    return check_knob(name, kind, value, minimum=1 if name in _POSITIVE else 0)
