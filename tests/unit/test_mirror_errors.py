"""Driver failures become MirrorError (exit code 5, retryable), whatever asyncpg raises."""

from __future__ import annotations

import asyncpg
import pytest

from syncer import errors
from syncer.mirror import _wrap


@pytest.mark.parametrize(
    "raised",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_driver_failures_are_retryable_mirror_errors(raised: Exception) -> None:
    with pytest.raises(errors.MirrorError) as caught, _wrap("merging page 3 of master:LOCATION"):
        raise raised
    assert caught.value.exit_code == errors.ExitCode.TRANSIENT
    assert "merging page 3" in caught.value.message


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), _wrap("reading"):
        raise KeyError("a bug is not a database failure")
