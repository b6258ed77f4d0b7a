"""`AppliedWrite`: one write the Exto sandbox applied to its data, as tests read it back."""

from __future__ import annotations

from dataclasses import dataclass

from syncer.sandbox.common.ledger import WriteCall


@dataclass(frozen=True)
class AppliedWrite(WriteCall):
    """One write that changed the sandbox's data, whatever it was answered (a 504 fault included).

    Writes that changed nothing (refused, failed validation, matched no record) are not recorded.
    `operation` is one of master.upsert, master.patch, master.delete, module.upsert, module.patch,
    module.delete, subtable.append, subtable.delete, workflow, user.upsert, user.revoke,
    user.remove_projects, user.activate, user.deactivate; `path` includes the `/data` prefix.
    """

    #: what the write touched, in order: unique-field values (upserts), refIds or recordNumbers
    #: (patches, deletes), record or row ids (workflow, sub-tables), usernames (users)
    keys: tuple[str, ...]
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
