"""The names a run's mode and status take: StrEnums whose values are the strings stored in
syncer.runs (an outbox row's states are mirror.outbox.OutboxState, beside the SQL that sets
them). A leaf module: everything may import it, metrics and health included.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """How a sync reads a stream (DESIGN.md, Sync modes)."""

    #: every page; deletes inferred from a complete pass
    FULL = "full"
    #: records changed since the cursor (minus the lookback); full where the vendor cannot
    INCREMENTAL = "incremental"
    #: the records updated within a window of days: resumable, no deletes, no cursor
    BACKFILL = "backfill"


class RunMode(StrEnum):
    """What syncer.runs records as the mode of a run that is not a sync (a sync's: Mode)."""

    #: the mirror following what a push wrote
    PUSH = "push"
    #: an operator confirming held deletes
    DELETES = "deletes"


class RunStatus(StrEnum):
    """How a run stands or ended (syncer.runs.status, and a StreamResult's)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    #: succeeded, with records set aside in the quarantine
    QUARANTINED = "quarantined"
    #: merged, but the pass's evidence disagreed with the vendor: no deletes, no cursor
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    #: left running by a process that died (closed by the stream's next run)
    ABANDONED = "abandoned"
    #: another process held the stream's lock (a result only, never stored)
    ALREADY_RUNNING = "already_running"


#: statuses of a run that finished without failing: its records landed, and the stream is fresh
#: from its end (health, metrics)
LANDED = (RunStatus.SUCCEEDED, RunStatus.QUARANTINED, RunStatus.INCOMPLETE)
