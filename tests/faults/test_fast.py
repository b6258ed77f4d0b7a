"""The fast cases of the fault suite (`make test`): every experiment with a few trials on small
data. `make test-faults` runs the same experiments in full (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.catalog import EXPERIMENTS
from tests.faults.harness import lab

pytestmark = pytest.mark.acceptance


@pytest.mark.parametrize("number", sorted(EXPERIMENTS))
async def test_experiment_passes_every_trial(
    number: int, pg_admin_url: str, tmp_path: Path
) -> None:
    async with lab(pg_admin_url, tmp_path) as it:
        result = await EXPERIMENTS[number].run(it, "fast", seed=7)
    assert result.trials > 0
    assert result.passed == result.trials, result.notes
    assert (result.lost, result.duplicated, result.wrongly_deleted) == (0, 0, 0)
    assert (result.endless, result.stalled) == (0, 0)
