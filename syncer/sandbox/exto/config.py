"""The sandbox's knobs: dataset shape (fixed at start) and behaviour (changeable at run time)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from syncer.sandbox.common.knobs import apply_knobs, check_value, describe_knobs, string_list
from syncer.sandbox.common.ratelimit import LIMITER_KNOBS, LIMITER_RUNTIME, LimiterKnobs
from syncer.sandbox.exto.poison_corpus import MIN_MASTER_RECORDS as MIN_CORPUS_RECORDS

Envelope = Literal["rows", "array"]

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_MASTER = "LOCATION"
DEFAULT_MODULE = "INSPECTION"
#: who a write made through a token is made by, unless `token_users` names someone else
DEFAULT_API_USER = "api@example.com"

#: knobs that `POST /_sandbox/config` (and tests) may change while the sandbox runs, and their types
RUNTIME_KNOBS: Mapping[str, type] = {
    "latency_ms": float,
    "max_url_chars": int,
    # the limiter's kind (docs/sandbox.md "Auth, rate limit, latency, errors")
    **LIMITER_RUNTIME,
    "retry_after": bool,
    "churn_inserts_per_page": int,
    "churn_deletes_per_page": int,
    "envelope": str,
    "all_or_nothing": bool,
    "hard_delete": bool,
    "users_without_delete": tuple,
    "reject_keys": tuple,
    "write_delay_ms": float,
    "write_fail_after_apply": int,
    "hide_unowned_modules": bool,
    # fault switches (docs/sandbox.md "Fault switches")
    "fault_rate": float,
    "fault_kinds": tuple,
    "fault_seed": int,
    "fault_timeout_ms": float,
    "storm_rate": float,
    "revoked_tokens": tuple,
    "revoke_after": int,
    # paging lies (docs/sandbox.md "Paging lies", `lies`)
    "short_pages": tuple,
    "empty_pages": tuple,
    "repeat_pages": tuple,
    "ignore_page": bool,
    "total_delta": int,
    "total_pages_delta": int,
    "totals_wobble": int,
    # bad bodies (docs/sandbox.md "Bad bytes and HTML pages")
    "html_next": int,
}

#: what the per-request fault mix can inject (`fault_kinds`), in the order of the default
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "502",
    "503",
    "reset",
    "timeout",
    "truncated",
    "invalid_json",
    "html",
)
#: runtime knobs checked on every assignment too (`sb.config.fault_rate = 2` raises ValueError)
CHECKED_ON_SET = frozenset(
    {
        "fault_rate",
        "fault_kinds",
        "fault_seed",
        "fault_timeout_ms",
        "storm_rate",
        "revoked_tokens",
        "revoke_after",
    }
)
#: setting any of these (even to the value it holds) re-creates the fault and storm RNGs
RNG_KNOBS = frozenset({"fault_rate", "fault_kinds", "fault_seed", "fault_timeout_ms", "storm_rate"})


def _default_unique_fields() -> dict[str, tuple[str, ...]]:
    return {DEFAULT_MASTER: ("serial_number",), DEFAULT_MODULE: ("recordNumber",)}


@dataclass
class ExtoConfig(LimiterKnobs):
    """Everything the Exto sandbox can be told.

    The dataset fields (seed, sizes, names, tokens, poison, poison_corpus, hostile_names,
    tied_updated_at, bad_bytes) are read once by `create_app`; the
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
    #: accepted requests per token in any second (counted the `limiter` way); 0 = unlimited
    rate_limit: int = 3
    #: send `Retry-After: 1` with 429 responses (Exto does not document one)
    retry_after: bool = False
    #: added to every data request, after the rate-limit decision
    latency_ms: float = 0.0
    #: a data request whose target (path and query, as sent) is longer than this is answered
    #: 414 URI Too Long (Exto documents 414; 8 KB is a common server default); 0 = no limit
    max_url_chars: int = 8192
    envelope: Envelope = "rows"
    #: after each non-empty master/module page: records inserted (sorting early) and deleted
    #: (among those before the page)
    churn_inserts_per_page: int = 0
    churn_deletes_per_page: int = 0
    #: add master records a careful client must quarantine: NUL, lone surrogate, NaN, no _id,
    #: over 10 MB, a duplicated _id
    poison: bool = False
    #: add the poison corpus (docs/sandbox.md "Poison corpus"): one master record of each kind
    #: of `poison_corpus.KINDS`, spread evenly over the master records (needs at least 2,800)
    poison_corpus: bool = False
    #: this many hostile customFields names (docs/sandbox.md "Hostile field names"), a few on
    #: each generated master record; 0 = none
    hostile_names: int = 0
    #: dataset: every generated master record gets customFields `padding`, a string of this
    #: many characters (random hex, so it does not compress); 0 = none
    record_padding: int = 0
    #: writes (docs/sandbox.md "Writes"), read on every write: the fields each master and module
    #: (upper-cased name) upserts match on, in order; and the user a token writes as
    #: (`createdBy`/`updatedBy` of master upserts and patches; DEFAULT_API_USER if not listed)
    unique_fields: dict[str, tuple[str, ...]] = field(default_factory=_default_unique_fields)
    token_users: dict[str, str] = field(default_factory=dict)
    #: a chunk with an invalid row applies nothing (True) or applies its valid rows (False); the
    #: answer is a 400 listing the invalid rows either way
    all_or_nothing: bool = True
    #: DELETE removes records for good (True) or sets `isDeleted: true` and keeps them (False)
    hard_delete: bool = False
    #: users (lower-cased) whose master DELETE answers 200 `{"success": false}` and deletes nothing
    users_without_delete: tuple[str, ...] = ()
    #: master/module upsert, PATCH and DELETE rows naming one of these keys (a unique field's
    #: value, a refId or a recordNumber, as text, case kept) fail validation
    reject_keys: tuple[str, ...] = ()
    #: an applied write sleeps this long before it is answered (the write has landed by then)
    write_delay_ms: float = 0.0
    #: the next N applied writes are answered 504 all the same; counts down as they happen
    write_fail_after_apply: int = 0
    #: module lists show only records the token's user created or is responsible for, or with an
    #: active workflow (Exto's visibility rule; `exto.visible_to`)
    hide_unowned_modules: bool = False
    #: fault switches (docs/sandbox.md "Fault switches"). The per-request fault mix: the share
    #: (0..1) of authenticated data requests that fail, the kinds drawn from (uniformly), the
    #: seed of its RNG (and of the storm's) and how long a "timeout" fault stalls
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_seed: int = 0
    fault_timeout_ms: float = 30_000.0
    #: the share (0..1) of authenticated data requests answered 429 by a "storm", before the
    #: rate limiter (which does not count them)
    storm_rate: float = 0.0
    #: tokens answered 401 like unknown ones
    revoked_tokens: tuple[str, ...] = ()
    #: 0 = off; else after that many more requests answered normally, every token is revoked
    revoke_after: int = 0
    #: paging lies of master and module pages (docs/sandbox.md "Paging lies", `lies`): page
    #: numbers served one record short, empty, or holding the page before them; every page
    #: served as page 1; deltas added to the reported `total` and `totalPages`; a seeded random
    #: wobble of `total` per answer
    short_pages: tuple[int, ...] = ()
    empty_pages: tuple[int, ...] = ()
    repeat_pages: tuple[int, ...] = ()
    ignore_page: bool = False
    total_delta: int = 0
    total_pages_delta: int = 0
    totals_wobble: int = 0
    #: dataset: this many master records, a contiguous run in `_id` order from the middle, share
    #: one `updatedAt` (`ExtoDataset.build`)
    tied_updated_at: int = 0
    #: bad bodies (docs/sandbox.md "Bad bytes and HTML pages"). Dataset: this many master
    #: records hold bytes that are not UTF-8 (in a value, a field name or the `_id`, in turn), at
    #: seeded positions (`bad_bytes.positions`); runtime: the next N data requests past the rate
    #: limiter are answered 200 `text/html` with a maintenance page; counts down
    bad_bytes: int = 0
    html_next: int = 0
    #: bumped whenever an RNG_KNOBS knob is set: the sandbox then re-creates its fault RNGs
    fault_epoch: int = field(default=0, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        """Check CHECKED_ON_SET knobs on assignment; note assignments of RNG_KNOBS knobs."""
        if name in CHECKED_ON_SET:
            value = _check(name, RUNTIME_KNOBS[name], value)
        object.__setattr__(self, name, value)
        if name in RNG_KNOBS:
            object.__setattr__(self, "fault_epoch", getattr(self, "fault_epoch", 0) + 1)

    def __post_init__(self) -> None:
        self.master_name = self.master_name.upper()
        self.module_name = self.module_name.upper()
        self.tokens = tuple(self.tokens)
        self.unique_fields = {
            name.upper(): tuple(names) for name, names in self.unique_fields.items()
        }
        self.token_users = dict(self.token_users)
        if not isinstance(self.poison_corpus, bool):
            raise ValueError("poison_corpus must be a boolean")
        for name in ("hostile_names", "record_padding"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer")
        for name in (
            "master_records",
            "module_records",
            "users",
            "projects",
            "tied_updated_at",
            "hostile_names",
            "record_padding",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.poison_corpus and self.master_records < MIN_CORPUS_RECORDS:
            raise ValueError(
                f"poison_corpus needs master_records >= {MIN_CORPUS_RECORDS:,} "
                f"(got {self.master_records:,})"
            )
        self._check_bad_bytes()
        if self.projects < 1:
            raise ValueError("projects must be >= 1")
        if self.tied_updated_at > self.master_records:
            raise ValueError("tied_updated_at must be <= master_records")
        self.apply({name: getattr(self, name) for name in RUNTIME_KNOBS})

    def _check_bad_bytes(self) -> None:
        """`bad_bytes`: an integer, 0 to half the master records (so free positions remain
        beside the poison knobs' records)."""
        value = self.bad_bytes
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("bad_bytes must be an integer >= 0")
        if value > self.master_records // 2:
            raise ValueError(
                f"bad_bytes must be at most half of master_records ({self.master_records:,})"
            )

    def apply(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Validate and set runtime knobs; return their new values.

        Raises ValueError (changing nothing) for an unknown knob or a bad value.
        """
        return apply_knobs(self, RUNTIME_KNOBS, changes, _check)

    def runtime_knobs(self) -> dict[str, object]:
        """The current values of every runtime knob."""
        return {name: getattr(self, name) for name in RUNTIME_KNOBS}

    def describe(self) -> dict[str, object]:
        """Every knob and its value, for the stats route (tokens are not shown: `token_users`
        shows only the users)."""
        described = describe_knobs(self, hide="tokens")
        described["token_users"] = sorted(set(self.token_users.values()))
        described["revoked_tokens"] = len(self.revoked_tokens)
        del described["fault_epoch"]
        return described


def _check(name: str, kind: type, value: object) -> object:
    """Return `value` if it fits knob `name` of type `kind`, else raise ValueError."""
    special = _SPECIAL_CHECKS.get(name)
    if special is not None:
        return special(name, value)
    if kind is str:
        if value not in ("rows", "array"):
            raise ValueError(f"{name} must be 'rows' or 'array'")
        return value
    if kind is tuple:
        names = string_list(name, value)
        if not all(isinstance(item, str) for item in names):
            raise ValueError(f"{name} must be a list of strings")
        return tuple(str(item).strip().lower() for item in names)
    return check_value(name, kind, value)


def _share(name: str, value: object) -> object:
    """A probability: a number 0..1, as a float."""
    share = check_value(name, float, value)
    assert isinstance(share, float)
    if not 0 <= share <= 1:  # NaN too
        raise ValueError(f"{name} must be between 0 and 1")
    return share


def _any_int(name: str, value: object) -> object:
    """Any whole number (seeds may be negative)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be an integer")
    if not float(value).is_integer():
        raise ValueError(f"{name} must be an integer")
    return int(value)


def _fault_kinds(name: str, value: object) -> object:
    """Kinds from FAULT_KINDS (500/502/503 may be numbers), duplicates dropped, order kept."""
    kinds: list[str] = []
    for item in string_list(name, value):
        kind = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if kind not in FAULT_KINDS:
            raise ValueError(f"{name}: unknown kind {item!r} (kinds: {', '.join(FAULT_KINDS)})")
        assert isinstance(kind, str)
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _page_numbers(name: str, value: object) -> object:
    """Page numbers (whole numbers >= 1), sorted, duplicates dropped."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of page numbers")
    pages = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"{name} must be a list of page numbers (whole numbers >= 1)")
        pages.add(item)
    return tuple(sorted(pages))


def _signed(name: str, value: object) -> object:
    """A whole number, negative or not."""
    return _any_int(name, value)


def _tokens(name: str, value: object) -> object:
    """Bearer tokens (or keys), kept exactly as given (both are case-sensitive)."""
    tokens = string_list(name, value)
    if not all(isinstance(token, str) and token for token in tokens):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return tuple(str(token) for token in dict.fromkeys(tokens))


_SPECIAL_CHECKS: Mapping[str, Callable[[str, object], object]] = {
    "fault_rate": _share,
    "storm_rate": _share,
    "fault_seed": _any_int,
    "fault_kinds": _fault_kinds,
    "revoked_tokens": _tokens,
    "short_pages": _page_numbers,
    "empty_pages": _page_numbers,
    "repeat_pages": _page_numbers,
    "total_delta": _signed,
    "total_pages_delta": _signed,
    "reject_keys": _tokens,
    **LIMITER_KNOBS,
}
