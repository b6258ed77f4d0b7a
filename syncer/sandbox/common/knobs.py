"""Runtime knobs shared by the four sandbox configs: validate and apply changes, describe them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING

from syncer.sandbox.common.ratelimit import LIMITER_KNOBS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: `check(name, kind, value)`: `value` normalised if it fits knob `name` of type `kind`, else
#: raise ValueError
Check = Callable[[str, type, object], object]


def check_value(name: str, kind: type, value: object, *, minimum: int = 0) -> object:
    """Return `value` if it fits a bool, int or float knob, normalised; else raise ValueError.

    A bool knob takes a bool; any other kind takes a number (not a bool) >= `minimum`, whole for
    an int knob, and is returned as an int or a float.
    """
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{name} must be an integer")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}")
    return int(value) if kind is int else float(value)


def string_list(name: str, value: object) -> tuple[object, ...]:
    """`value` (a JSON list or a tuple) as a tuple; raise ValueError for anything else.

    The items are not checked: each vendor has its own rule for them.
    """
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of strings")
    return tuple(value)


def check_knob(name: str, kind: type, value: object, *, minimum: int = 0) -> object:
    """Return `value`, normalised, if it fits knob `name` of type `kind` by the rule most knobs
    follow, else raise ValueError: the limiter knobs by `LIMITER_KNOBS`, a tuple knob as a list of
    non-empty strings, any other by `check_value` (at least `minimum`)."""
    if name in LIMITER_KNOBS:
        return LIMITER_KNOBS[name](name, value)
    if kind is tuple:
        items = string_list(name, value)
        if not all(isinstance(item, str) and item.strip() for item in items):
            raise ValueError(f"{name} must be a list of non-empty strings")
        return items
    return check_value(name, kind, value, minimum=minimum)


def apply_knobs(
    config: object,
    knobs: Mapping[str, type],
    changes: Mapping[str, object],
    check: Check = check_value,
    *,
    together: Callable[[dict[str, object]], None] | None = None,
) -> dict[str, object]:
    """Validate `changes` to the runtime `knobs` (name -> type) of `config`, set them, and return
    their new values.

    Each value goes through `check`; `together`, if given, then sees every checked change at once
    (for rules that tie knobs to each other). Raises ValueError, changing nothing, for an unknown
    knob or a bad value.
    """
    checked: dict[str, object] = {}
    for name, value in changes.items():
        kind = knobs.get(name)
        if kind is None:
            known = ", ".join(knobs)
            raise ValueError(f"unknown or read-only knob {name!r} (runtime knobs: {known})")
        checked[name] = check(name, kind, value)
    if together is not None:
        together(checked)
    for name, value in checked.items():
        setattr(config, name, value)
    return {name: getattr(config, name) for name in checked}


def describe_knobs(config: DataclassInstance, *, hide: str) -> dict[str, object]:
    """Every field of `config` and its value but `hide` (the secrets), for the stats route."""
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name != hide}
