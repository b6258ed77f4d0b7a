"""Driver failures become MirrorError (exit code 5, retryable), whatever asyncpg raises."""

from __future__ import annotations

import asyncpg
import pytest

from syncer import errors
from syncer.mirror import translate_errors


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
    doing = "merging page 3 of master:LOCATION"
    with pytest.raises(errors.MirrorError) as caught, translate_errors(doing):
        raise raised
    assert caught.value.exit_code == errors.ExitCode.TRANSIENT
    assert "merging page 3" in caught.value.message


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), translate_errors("reading"):
        raise KeyError("a bug is not a database failure")
