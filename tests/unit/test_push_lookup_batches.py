"""Read-back batches: each the longest that fits (count and URL), a key too long alone still
goes alone."""

from __future__ import annotations

from collections.abc import Callable

from syncer.push.settle import lookup_batches


def _fits(most_chars: int) -> Callable[[list[str]], bool]:
    return lambda batch: sum(len(k) + 1 for k in batch) <= most_chars


def test_batches_are_the_longest_that_fit_by_count_and_by_length() -> None:
    keys = [f"{n:03d}" for n in range(10)]  # 4 characters each with its separator
    assert lookup_batches(keys, 3, _fits(1000)) == [keys[0:3], keys[3:6], keys[6:9], keys[9:]]
    assert lookup_batches(keys, 100, _fits(17)) == [keys[0:4], keys[4:8], keys[8:]]
    assert lookup_batches(keys, 100, _fits(40)) == [keys]


def test_a_key_longer_than_the_budget_goes_alone() -> None:
    keys = ["a", "b" * 50, "c", "d"]
    assert lookup_batches(keys, 100, _fits(10)) == [["a"], ["b" * 50], ["c", "d"]]
    assert lookup_batches([], 100, _fits(10)) == []
