"""The ledger of writes the XtraKit sandbox applied: what syncer's push tests assert on.

sb.ledger  # [AppliedWrite(at=1000.0, method="POST", path="/api/v1/sales/add",
           #                operation="sale.add", key="123456"), ...]
"""

from __future__ import annotations

from dataclasses import dataclass

from syncer.sandbox.common.ledger import WriteCall

#: every `AppliedWrite.operation`, as "<entity>.<verb>"
OPERATIONS = (
    "customer.add",
    "customer.edit",
    "customer.delete",
    "item.add",
    "item.edit",
    "item.delete",
    "sale.add",
)


@dataclass(frozen=True)
class AppliedWrite(WriteCall):
    """One write that changed the sandbox's data (whatever it was answered, 500 included)."""

    #: what names the record: a customer's id, an item's item_code, a sale's invoice_code
    key: str
