"""Table definitions, shaped like the structure examples of the Actito portal (vendors.md §3.3).

They describe exactly the data the sandbox serves: every attribute a profile or record carries,
which ones are unique or mandatory (mandatory ones are never null), and the custom table's
primary key, creation-time attribute and foreign key to the profile table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from syncer.sandbox.actito import records

#: the profile table's id in the structure routes (the portal's example uses "16")
PROFILE_TABLE_ID = "1"
_NAMESPACE = uuid.UUID("6f1a4e52-3c0b-4b7e-9a55-0d8f3b1c2e47")


def custom_table_id(entity: str, name: str) -> str:
    """A custom table's id: a UUID, as in the portal's example, derived from its names."""
    return str(uuid.uuid5(_NAMESPACE, f"{entity}/{name}"))


@dataclass(frozen=True)
class TableInfo:
    """One table as the structure routes list it."""

    kind: str
    id: str
    name: str
    definition: dict[str, Any]

    def matches(self, ref: str) -> bool:
        """Tables are addressed by name or by id (our assumption; the docs show ids)."""
        return ref in (self.name, self.id)


def profile_table_info(name: str) -> TableInfo:
    def attribute(
        name: str, kind: str, value_type: str, *, unique: bool = False, mandatory: bool = False
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "name": name,
            "unique": unique,
            "mandatory": mandatory,
            "valueType": value_type,
            "multiValued": False,
        }

    attributes = [
        attribute("profileId", "CUSTOM", "INTEGER", unique=True, mandatory=True),
        attribute("creationMoment", "CUSTOM", "TIMESTAMP", mandatory=True),
        attribute("updateMoment", "CUSTOM", "TIMESTAMP", mandatory=True),
        attribute("emailAddress", "EMAIL_ADDRESS", "STRING", unique=True, mandatory=True),
        attribute("customerId", "CUSTOM", "STRING", unique=True, mandatory=True)
        | {"valueRestriction": {"maxLength": 255}},
        attribute("firstName", "FIRSTNAME", "STRING"),
        attribute("lastName", "LASTNAME", "STRING", mandatory=True),
        attribute("birthDate", "BIRTHDATE", "DATE"),
        attribute("motherLanguage", "MOTHER_LANGUAGE", "STRING", mandatory=True)
        | {"valueRestriction": {"acceptedValues": list(records.LANGUAGES)}},
        attribute("gsmNumber", "GSM_NUMBER", "STRING"),
        attribute("loyaltyPoints", "CUSTOM", "INTEGER", mandatory=True),
    ]
    definition = {
        "id": PROFILE_TABLE_ID,
        "name": name,
        "attributes": attributes,
        "subscriptions": [{"name": records.SUBSCRIPTION}],
        "segmentations": [],
    }
    return TableInfo("profiles", PROFILE_TABLE_ID, name, definition)


def custom_table_info(entity: str, name: str) -> TableInfo:
    def attribute(
        name: str, value_type: str, *, unique: bool = False, **extra: Any
    ) -> dict[str, Any]:
        return {
            "name": name,
            "valueType": value_type,
            "mandatory": True,
            "indexed": unique or name != "amount",
            "unique": unique,
        } | extra

    table_id = custom_table_id(entity, name)
    definition = {
        "id": table_id,
        "name": name,
        "type": "INTERACTIONS",
        "primaryKeyAttribute": "orderId",
        "creationTimeAttribute": "creationMoment",
        "bigTable": False,
        "attributes": [
            attribute(
                "orderId",
                "STRING",
                unique=True,
                valueRestriction={"minLength": 20, "maxLength": 20},
            ),
            attribute("customerId", "STRING"),
            attribute("amount", "NUMBER"),
            attribute(
                "currency", "STRING", valueRestriction={"acceptedValues": ["EUR", "USD", "GBP"]}
            ),
            attribute(
                "status",
                "STRING",
                valueRestriction={"acceptedValues": list(records.ORDER_STATUSES)},
            ),
            attribute("creationMoment", "TIMESTAMP"),
            attribute("updateMoment", "TIMESTAMP"),
        ],
        "foreignKeys": [
            {
                "name": "link-to-customer",
                "attribute": "customerId",
                "reference": {
                    "tableType": "PROFILE_TABLE",
                    "tableId": PROFILE_TABLE_ID,
                    "attribute": "customerId",
                },
                "onDelete": "CASCADE",
            }
        ],
        "eventsToTrigger": [],
    }
    return TableInfo("custom", table_id, name, definition)
