"""The syncer error tree; the CLI maps each branch to an exit code.

    SyncerError
    ├── ConfigError            bad config file, missing env variable, unknown stream   -> exit 6
    │   └── MissingOption          a push endpoint needs a connection option not set
    ├── AuthError              the vendor refused the credential (401/403)              -> exit 6
    ├── VendorError            the vendor answered with an error (status, page, body)
    │   ├── RetriableVendorError   429, 5xx, timeouts, resets: retried, then           -> exit 5
    │   │   └── RateLimited         429; carries retry_after
    │   └── FatalVendorError       400/404/413/422...: never retried                    -> exit 5
    ├── MirrorError            Postgres failed underneath us                           -> exit 5
    │   └── LockLost           another run took the lock over (this run's lock session died)
    └── AlreadyRunning         another run holds the stream's advisory lock            -> exit 4

Messages never contain a secret: the token is never formatted into any of them, and every
registered secret (log.register_secret) is scrubbed from a message when the error is made.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from syncer import log


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README and in `syncer --help`."""

    OK = 0  #: every stream finished and every record was stored
    INTERNAL = 1  #: a bug: an unexpected exception
    USAGE = 2  #: bad command-line usage (click's own code)
    #: finished, but something needs a look: records went to syncer.quarantine, a pass was
    #: incomplete (no deletes inferred), or deletes are held for confirmation (`syncer status`)
    QUARANTINED = 3
    ALREADY_RUNNING = 4  #: another run of the same stream holds its lock
    TRANSIENT = 5  #: vendor, network or database failure; retrying later may succeed
    AUTH_OR_CONFIG = 6  #: fix the credential or the configuration before retrying
    #: `syncer health`: a configured stream's last run failed, none of its runs ever finished
    #: without failing, or its last good run is older than its max_staleness
    UNHEALTHY = 7


#: from the most serious down: a run's exit is the first of these any of its parts ended with
_SEVERITY = (
    ExitCode.AUTH_OR_CONFIG,
    ExitCode.TRANSIENT,
    ExitCode.INTERNAL,
    ExitCode.ALREADY_RUNNING,
    ExitCode.UNHEALTHY,
    ExitCode.QUARANTINED,
)


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    """The exit of a command whose parts (streams, connections) ended with `codes`: the most
    serious among them, OK when there are none."""
    seen = set(codes)
    return next((c for c in _SEVERITY if c in seen), ExitCode.OK)


class SyncerError(Exception):
    """syncer failed."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str | None = None) -> None:
        # scrubbed once, here: the message goes to logs, the runs table and the terminal
        super().__init__(log.scrub(message or self.__doc__ or type(self).__name__))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(SyncerError):
    """The configuration is invalid; fix it and run again."""

    exit_code = ExitCode.AUTH_OR_CONFIG


class MissingOption(ConfigError):
    """A push endpoint needs a connection option that is not set; add it to the config."""


class AuthError(SyncerError):
    """The vendor refused the credential; check the token named in the config."""

    exit_code = ExitCode.AUTH_OR_CONFIG


class VendorError(SyncerError):
    """The vendor answered with an error."""

    exit_code = ExitCode.TRANSIENT

    def __init__(
        self, message: str | None = None, *, status: int | None = None, body: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = log.scrub(body)


class RetriableVendorError(VendorError):
    """The vendor or the network failed in a way that may pass; the request is retried."""


class RateLimited(RetriableVendorError):
    """The vendor answered 429 Too Many Requests."""

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = 429,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class FatalVendorError(VendorError):
    """The vendor rejected the request; retrying the same request cannot succeed."""


class MirrorError(SyncerError):
    """Postgres failed while syncer was writing the mirror; rerun to resume from the checkpoint."""

    exit_code = ExitCode.TRANSIENT


class LockLost(MirrorError):
    """Another run took over this run's lock (the session holding it ended); this run stopped
    before its next commit. Rerun to resume."""


class AlreadyRunning(SyncerError):
    """Another run of this stream is in progress (it holds the stream's advisory lock)."""

    exit_code = ExitCode.ALREADY_RUNNING
