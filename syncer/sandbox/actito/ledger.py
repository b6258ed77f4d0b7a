"""`AppliedWrite`: one write the sandbox applied to its data, as syncer's tests read it back."""

from __future__ import annotations

from dataclasses import dataclass

from syncer.sandbox.common.ledger import WriteCall

#: every `AppliedWrite.operation`
OPERATIONS = (
    "profile.create",
    "profile.update",
    "profile.delete",
    "custom.upsert",
    "custom.update",
    "custom.delete",
)


@dataclass(frozen=True)
class AppliedWrite(WriteCall):
    """One state-changing write call (refused calls never appear; a faulted 504 one does)."""

    #: the profileId (as a string) or the businessKey written
    key: str
    #: True when the write created the profile or record
    created: bool
