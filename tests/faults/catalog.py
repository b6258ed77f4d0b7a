"""Every fault experiment: the classic ones of `experiments.py`, and each family module
`tests/faults/family_*.py`, which lists its experiments in `SPECS` (numbers never reused)."""

from __future__ import annotations

import importlib
import pkgutil

import tests.faults
from tests.faults.experiments import EXPERIMENTS as CLASSIC
from tests.faults.harness import Spec


def _families() -> dict[int, Spec]:
    found: dict[int, Spec] = dict(CLASSIC)
    for module in sorted(m.name for m in pkgutil.iter_modules(tests.faults.__path__)):
        if not module.startswith("family_"):
            continue
        for spec in importlib.import_module(f"tests.faults.{module}").SPECS:
            if spec.number in found:
                raise RuntimeError(f"fault experiment number {spec.number} is used twice")
            found[spec.number] = spec
    return dict(sorted(found.items()))


EXPERIMENTS: dict[int, Spec] = _families()
