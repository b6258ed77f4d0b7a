"""The write ledger every vendor's sandbox keeps: the writes it applied, in order, as its tests and
the `/_sandbox/ledger` route read them back.

Each vendor's `AppliedWrite` record (in its `ledger.py`) says what that vendor's writes name (Exto:
keys and counts; Actito: a key and whether it was created; XtraKit: a key; Ioto: a model, a key
and whether it was created); what is done with the ledger is written here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

W = TypeVar("W")


@dataclass(frozen=True)
class WriteCall:
    """What every ledger entry of a vendor written to over HTTP paths holds (Exto, Actito and
    XtraKit's `AppliedWrite` add what their writes name)."""

    #: sandbox clock reading when the write was applied
    at: float
    method: str
    #: the path as sent, with any mount prefix
    path: str
    #: what was done, "<thing>.<verb>" (each vendor's `ledger.py` lists its own)
    operation: str


class WriteLedger(Generic[W]):
    """A sandbox's ledger (a mixin): subclasses set `ledger` to a list of their `AppliedWrite`."""

    #: every write that changed the data, oldest first (whatever it was answered, a faulted
    #: 5xx included; refused writes and writes that changed nothing are not entered)
    ledger: list[W]

    def reset_ledger(self) -> None:
        self.ledger.clear()


def ledger_json(ledger: Iterable[DataclassInstance]) -> list[dict[str, Any]]:
    """The ledger as JSON: one object per entry, its fields by name, oldest first."""
    return [asdict(entry) for entry in ledger]
