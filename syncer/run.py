"""One stream's run as the engine, the pass reading and delete inference share it: the run
context, the pass it works on, and how it ended (StreamResult; the names its mode and status
take are in `status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Protocol

from syncer import errors, redact
from syncer.evidence import PassEvidence
from syncer.http import VendorClient
from syncer.mirror import Fence, Mirror, StreamRef
from syncer.models import StreamSpec, StreamStats
from syncer.status import RunStatus

#: a backfill's days: (since, until), either may be None
Bounds = tuple[date | None, date | None]


class Progress(Protocol):
    """What a run reports as it goes (the CLI's progress bars)."""

    def resumed(self, connection: str, stream: str, pass_id: int, page: int) -> None:
        """An interrupted pass goes on after its checkpoint, `page`."""

    def page(
        self, connection: str, stream: str, page: int, total: int | None, stats: StreamStats
    ) -> None:
        """Page `page` (of `total`, when the vendor says) is merged and checkpointed."""


@dataclass
class StreamResult:
    """How one stream's run ended."""

    connection: str
    stream: str
    mode: str
    status: RunStatus
    stats: StreamStats = field(default_factory=StreamStats)
    seconds: float = 0.0
    error: str | None = None
    exit_code: errors.ExitCode = errors.ExitCode.OK
    view: str | None = None
    #: the run's row in syncer.runs (None when it failed before it had one)
    run_id: int | None = None
    #: the page an interrupted pass resumed from (None: a new pass)
    resumed_from: int | None = None
    #: why the run read in full although incremental was asked for
    fell_back: str | None = None


@dataclass
class Pass:
    """The pass a run works on: where reading resumes and what it has recorded so far."""

    pass_id: int
    params: dict[str, str]
    full: bool
    next_page: int  # number of the next page to merge (1 for a new pass)
    position: Any  # where that page starts: its number, or the vendor's cursor
    #: records per page, fixed for the whole pass: page numbers (the checkpoint) count in it
    page_size: int
    keys_written: int = 0
    #: whether what the pass read agrees with what the vendor reported (syncer.evidence)
    evidence: PassEvidence = field(default_factory=lambda: PassEvidence(1))


@dataclass
class RunContext:
    """What every step of one stream's run works with, from its lock to its run record."""

    mirror: Mirror
    client: VendorClient
    spec: StreamSpec
    ref: StreamRef
    #: the stream lock's fencing token: every write commits only while it is still current
    fence: Fence
    #: how the run is going; filled in as it goes, returned at the end
    result: StreamResult
    #: the sync this run is part of (one per `syncer sync`, shared by its streams)
    invocation: str
    progress: Progress | None = None
    #: a backfill's days (since, until)
    bounds: Bounds | None = None
    #: the run's row in syncer.runs, once started
    run_id: int = 0

    @property
    def stats(self) -> StreamStats:
        """The run's counters."""
        return self.result.stats

    @cached_property
    def redaction(self) -> redact.Redaction | None:
        """The stream's `exclude` and `hash` lists with their key, read once per run (None:
        the stream excludes and hashes nothing)."""
        return redact.for_stream(self.client.connection, self.spec.name, self.spec.view)
