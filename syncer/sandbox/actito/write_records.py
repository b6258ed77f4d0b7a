"""Apply one write to the dataset (vendors.md §3.4, §6.2): profile create-or-update, custom record
upsert and full update, deletes. One record per call; refusals raise `ApiError` and change nothing.

    outcome = upsert_profile(data, info, body, allow_update=True, now="2025-07-01 00:00:05")
    outcome.operation, outcome.key, outcome.created  # "profile.update", 42, False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncer.sandbox.actito import records
from syncer.sandbox.actito.data import ActitoDataset
from syncer.sandbox.actito.errors import ApiError
from syncer.sandbox.actito.structure import TableInfo
from syncer.sandbox.actito.validation import (
    allowed_fields,
    check_values,
    json_object,
    missing_mandatory,
    pairs,
)

#: profile attributes Actito generates and a write must not send (the Creating or Updating a
#: Single Profile page: "technical attributes should not be mentioned")
TECHNICAL = ("profileId", "creationMoment", "updateMoment")
PROFILE_FIELDS = ("attributes", "subscriptions", "segmentations", "dataCollectionInformation")
#: a custom record's attribute the sandbox sets to the write time unless the body gives it
UPDATE_TIME = "updateMoment"


@dataclass(frozen=True)
class Outcome:
    """What a write did: its ledger operation, the key written and whether it created it."""

    operation: str
    key: int | str
    created: bool


def upsert_profile(
    data: ActitoDataset, info: TableInfo, body: Any, *, allow_update: bool, now: str
) -> Outcome:
    """Create a profile, or with `allow_update` merge into the one its unique attributes match.

    A match on several profiles, or any match without `allow_update`, is a 409.
    """
    values, subscribed = _profile_body(info, body)
    table = data.profiles
    match = _match(data, values)
    if match is not None:
        profile_id, how = match
        if not allow_update:
            raise ApiError(
                409,
                f"A profile with {how} already exists (profileId {profile_id}); "
                "send allowUpdate=true to update it",
            )
        old = table[profile_id]
        merged = records.fields(old) | values | {"updateMoment": now}
        chosen = records.subscriptions(old) | subscribed
        table.replace(profile_id, records.profile_record(profile_id, merged, chosen))
        return Outcome("profile.update", profile_id, created=False)

    missing = missing_mandatory(info.definition, values, skip=TECHNICAL)
    if missing:
        raise ApiError(400, f"Missing mandatory attribute(s): {', '.join(missing)}")
    profile_id = data.take_profile_id()
    declared = {a["name"]: None for a in info.definition["attributes"]}
    created = declared | values | {"creationMoment": now, "updateMoment": now}
    chosen = {s["name"]: False for s in info.definition["subscriptions"]} | subscribed
    table.insert(profile_id, records.profile_record(profile_id, created, chosen))
    return Outcome("profile.create", profile_id, created=True)


def upsert_record(data: ActitoDataset, info: TableInfo, body: Any, *, now: str) -> Outcome:
    """Create the record the primary key names, or merge the given properties into it."""
    values = _properties(info, body)
    primary = info.definition["primaryKeyAttribute"]
    key = values.get(primary)
    if not isinstance(key, str):
        raise ApiError(400, f"Missing primary key attribute {primary!r}")
    table = data.custom
    old = table.get(key)
    if old is not None:
        merged = records.fields(old) | {UPDATE_TIME: now} | values
        table.replace(key, records.order_record(key, merged))
        return Outcome("custom.upsert", key, created=False)
    created = {info.definition["creationTimeAttribute"]: now, UPDATE_TIME: now} | values
    _require_mandatory(info, created)
    table.insert(key, records.order_record(key, created))
    return Outcome("custom.upsert", key, created=True)


def update_record(
    data: ActitoDataset, info: TableInfo, key: str, body: Any, *, now: str
) -> Outcome:
    """Replace every property of record `key` (404 if absent); its creation time stays unless
    the body gives one."""
    values = _properties(info, body)
    primary = info.definition["primaryKeyAttribute"]
    if values.get(primary, key) != key:
        raise ApiError(400, f"{primary} {values[primary]!r} differs from the path's {key!r}")
    table = data.custom
    old = table.get(key)
    if old is None:
        raise ApiError(404, f"No record {key!r} in table {info.name!r}")
    creation = info.definition["creationTimeAttribute"]
    replaced = {creation: records.fields(old)[creation], UPDATE_TIME: now} | values
    replaced[primary] = key
    _require_mandatory(info, replaced)
    table.replace(key, records.order_record(key, replaced))
    return Outcome("custom.update", key, created=False)


def delete_profile(data: ActitoDataset, profile_id: int, *, cascade: bool) -> Outcome:
    """Delete a profile (its orders too with `cascade`); 404 if absent."""
    if profile_id not in data.profiles:
        raise ApiError(404, f"No profile {profile_id} in table {data.profiles.name!r}")
    data.delete_profile(profile_id, cascade=cascade)
    return Outcome("profile.delete", profile_id, created=False)


def delete_record(data: ActitoDataset, key: str) -> Outcome:
    """Delete record `key`; 404 if absent."""
    if key not in data.custom:
        raise ApiError(404, f"No record {key!r} in table {data.custom.name!r}")
    data.custom.delete(key)
    return Outcome("custom.delete", key, created=False)


def _profile_body(info: TableInfo, body: Any) -> tuple[dict[str, Any], dict[str, bool]]:
    """A profile write's attributes `{name: value}` and subscriptions `{name: subscribe}`;
    400 for anything the table or the operation does not accept."""
    body = json_object(body)
    allowed_fields(body, PROFILE_FIELDS)
    values = pairs(body, "attributes")
    sent = [name for name in TECHNICAL if name in values]
    if sent:
        raise ApiError(
            400, f"Technical attribute(s) must not be sent: {', '.join(sent)} (Actito sets them)"
        )
    check_values(info.definition, values, "attribute")
    subscribed = _subscriptions(info, body.get("subscriptions", []))
    segmentations = body.get("segmentations", [])
    if not isinstance(segmentations, list):
        raise ApiError(400, "segmentations must be a list")
    if segmentations:
        raise ApiError(400, f"Unknown segmentation: table {info.name!r} declares none")
    if not isinstance(body.get("dataCollectionInformation", {}), dict):
        raise ApiError(400, "dataCollectionInformation must be an object")
    return values, subscribed


def _match(data: ActitoDataset, values: Mapping[str, Any]) -> tuple[int, str] | None:
    """The profile the unique attributes in `values` name, and how (`"customerId = 'C-1'"`);
    409 when they name several."""
    matches: dict[int, str] = {}
    for name, value in values.items():
        if value is not None and data.profiles.is_unique(name):
            row = data.profiles.find_unique(name, records.text(value))
            if row is not None:
                matches.setdefault(row["profileId"], f"{name} = {value!r}")
    if len(matches) > 1:
        found = "; ".join(f"{how} is profile {pid}" for pid, how in matches.items())
        raise ApiError(409, f"The unique attributes match several profiles: {found}")
    return next(iter(matches.items()), None)


def _properties(info: TableInfo, body: Any) -> dict[str, Any]:
    body = json_object(body)
    allowed_fields(body, ("properties",))
    values = pairs(body, "properties")
    check_values(info.definition, values, "property")
    return values


def _require_mandatory(info: TableInfo, values: Mapping[str, Any]) -> None:
    missing = missing_mandatory(info.definition, values)
    if missing:
        raise ApiError(400, f"Missing mandatory properties: {', '.join(missing)}")


def _subscriptions(info: TableInfo, items: Any) -> dict[str, bool]:
    """The body's `[{name, subscribe}]` as `{name: subscribe}`; 400 for an undeclared name."""
    declared = {s["name"] for s in info.definition["subscriptions"]}
    if not isinstance(items, list):
        raise ApiError(400, "subscriptions must be a list of {name, subscribe} objects")
    chosen: dict[str, bool] = {}
    for item in items:
        if (
            not isinstance(item, dict)
            or set(item) != {"name", "subscribe"}
            or not isinstance(item["subscribe"], bool)
        ):
            raise ApiError(400, "Each subscription must be an object {name, subscribe: bool}")
        if item["name"] not in declared:
            raise ApiError(400, f"Unknown subscription {item['name']!r} in table {info.name!r}")
        chosen[item["name"]] = item["subscribe"]
    return chosen
