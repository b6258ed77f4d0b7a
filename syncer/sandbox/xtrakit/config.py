"""The XtraKit sandbox's knobs: dataset shape (fixed at start) and behaviour (changeable live)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncer.sandbox.common.knobs import apply_knobs, check_knob, describe_knobs
from syncer.sandbox.common.ratelimit import LIMITER_RUNTIME, LimiterKnobs

DEFAULT_KEY = "sandbox-xtrakit-key"

#: knobs that `POST /_sandbox/config` (and tests, by assignment) may change while the sandbox runs
RUNTIME_KNOBS: Mapping[str, type] = {
    "api_keys": tuple,
    # the throttle's kind (docs/vendors/xtrakit.md, "Rate limit")
    **LIMITER_RUNTIME,
    "rate_limit_headers": bool,
    "suspended": bool,
    "pagination": bool,
    "default_per_page": int,
    "max_per_page": int,
    "latency_ms": float,
    "churn_inserts_per_page": int,
    "churn_deletes_per_page": int,
    "write_delay_ms": float,
    "write_fail_after_apply": int,
    "delete_status": int,
}
#: the answers a DELETE may give: 200 with the envelope, or 204 with no body (seed 003 lists both)
DELETE_STATUSES = (200, 204)
SIZE_KNOBS = ("customers", "items", "categories", "sales")


@dataclass
class XtraKitConfig(LimiterKnobs):
    """Everything the XtraKit sandbox can be told.

    `seed` and the four sizes are read once by `create_app`; every other knob is read on each
    request, so tests may assign them between requests (`sb.config.suspended = True`).
    """

    seed: int = 1
    customers: int = 5_000
    items: int = 5_000
    categories: int = 40
    sales: int = 5_000
    #: keys accepted as `Authorization: Bearer <key>`; replacing them emulates a key reset
    api_keys: tuple[str, ...] = (DEFAULT_KEY,)
    #: accepted requests per key in any 60 seconds (counted the `limiter` way); 0 = unlimited
    rate_limit: int = 60
    #: X-RateLimit-Limit / X-RateLimit-Remaining on throttled routes, Retry-After on 429
    rate_limit_headers: bool = True
    #: every authenticated call answers 402 "Payment required"
    suspended: bool = False
    #: False: lists carry no `pagination` object, ignore page/per_page and stop at 20 records
    pagination: bool = True
    default_per_page: int = 20
    max_per_page: int = 1000
    #: added to every logged request, after the auth and rate-limit decisions
    latency_ms: float = 0.0
    #: after each non-empty list page: records inserted (new ids, at the end) and deleted (among
    #: those before the page, so the next offset skips them)
    churn_inserts_per_page: int = 0
    churn_deletes_per_page: int = 0
    #: an applied write (add, edit, delete) waits this long before it is answered
    write_delay_ms: float = 0.0
    #: the next N applied writes are answered 500 all the same; counts down as they happen
    write_fail_after_apply: int = 0
    #: a successful DELETE answers 200 (envelope) or 204 (no body)
    delete_status: int = 200

    def __post_init__(self) -> None:
        for name in SIZE_KNOBS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        self.apply({name: getattr(self, name) for name in RUNTIME_KNOBS})

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Validate and set runtime knobs; return their new values (tuples as lists).

        Raises ValueError (changing nothing) for an unknown knob or a bad value.
        """
        changed = apply_knobs(self, RUNTIME_KNOBS, changes, _check, together=self._check_pages)
        return {name: _jsonable(value) for name, value in changed.items()}

    def _check_pages(self, checked: Mapping[str, object]) -> None:
        """Refuse changes that would leave `default_per_page` outside 1..`max_per_page`."""
        pages = {name: getattr(self, name) for name in ("default_per_page", "max_per_page")}
        pages.update({k: v for k, v in checked.items() if k in pages})
        if not 1 <= pages["default_per_page"] <= pages["max_per_page"]:
            raise ValueError("need 1 <= default_per_page <= max_per_page")

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (keys are not shown)."""
        return {k: _jsonable(v) for k, v in describe_knobs(self, hide="api_keys").items()}


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` (normalised) if it fits knob `name` of type `kind`, else raise ValueError."""
    checked = check_knob(name, kind, value)
    if name == "delete_status" and checked not in DELETE_STATUSES:
        raise ValueError("delete_status must be 200 or 204")
    return checked


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
