"""Keys, waves and supersession of a push, on hand-made keys (no database, no vendor)."""

from __future__ import annotations

from syncer.connectors import actito_push
from syncer.push.order import Key, Superseding, key_of, waves

SERIAL = ("customFields", "serial_number")
REF = ("refId",)


def test_a_name_the_mirror_places_joins_the_rows_naming_that_record_either_way() -> None:
    places = {(SERIAL, "1001"): {"r1"}, (REF, "k3Xa9"): {"r1"}}
    upsert = key_of("master:LOCATION", [(SERIAL, "1001")], places, places)
    update = key_of("master:LOCATION", [(REF, "k3Xa9")], places, places)
    other = key_of("master:LOCATION", [(SERIAL, "1002")], {(SERIAL, "1002"): {"r2"}})
    assert upsert.unplaced is None and update.unplaced is None
    assert upsert.same(update) and not upsert.same(other)
    assert waves([upsert, update, upsert, other]) == [0, 1, 2, 0]


def test_unplaced_names_of_different_kinds_are_one_key_and_of_one_kind_are_not() -> None:
    """The mirror cannot tell whether refId x and serial 7 are one record: ordered as one key;
    two serials are two records whatever the mirror knows."""
    upsert = key_of("master:LOCATION", [(SERIAL, "7")], {})
    update = key_of("master:LOCATION", [(REF, "x")], {})
    upsert_8 = key_of("master:LOCATION", [(SERIAL, "8")], {})
    assert upsert.unplaced == "customFields.serial_number" and update.unplaced == "refId"
    assert upsert.same(update) and not upsert.same(upsert_8)
    assert waves([upsert, upsert_8, update, upsert]) == [0, 0, 1, 2]


def test_an_unplaced_row_does_not_wait_for_placed_rows_of_other_records() -> None:
    places = {(REF, "a"): {"r1"}}
    placed = key_of("master:LOCATION", [(REF, "a")], places, places)
    unplaced = key_of("master:LOCATION", [(SERIAL, "9")], {})
    assert not placed.same(unplaced)
    assert waves([placed, unplaced]) == [0, 0]


def test_an_update_setting_the_unique_field_is_ordered_with_upserts_of_the_new_value() -> None:
    places = {(REF, "a"): {"r1"}}
    update = key_of("master:LOCATION", [(REF, "a"), (SERIAL, "6")], places, places)
    upsert = key_of("master:LOCATION", [(SERIAL, "6")], {})
    assert update.same(upsert)
    assert waves([update, upsert]) == [0, 1]


def test_a_name_leading_only_to_deleted_records_does_not_place_its_row() -> None:
    """Serial 195's mirrored record is deleted: the upsert will reach another record, maybe
    one the mirror does not know yet, which a refId the mirror cannot place may name."""
    upsert = key_of("master:LOCATION", [(SERIAL, "195")], {(SERIAL, "195"): {"old"}}, ())
    delete = key_of("master:LOCATION", [(REF, "new")], {})
    assert upsert.unplaced == "customFields.serial_number" and "#old" in upsert.tokens
    assert upsert.same(delete) and waves([upsert, delete]) == [0, 1]


def test_families_never_share_keys() -> None:
    a = Key("master:A", frozenset({"refId=x"}))
    b = Key("master:B", frozenset({"refId=x"}))
    assert not a.same(b) and waves([a, b]) == [0, 0]


def test_an_accepted_row_supersedes_earlier_rejected_rows_of_its_key_only() -> None:
    key = Key("users", frozenset({"=ann"}))
    other = Key("users", frozenset({"=bob"}))
    order = Superseding()
    order.rejected(1, key)
    order.rejected(2, other)
    order.rejected(5, key)
    assert order.superseded_by(4, key) == [1]
    assert order.superseded_by(9, key) == [5]
    assert order.superseded_by(10, key) == []  # forgotten once superseded
    assert order.superseded_by(11, other) == [2]


def test_unplaced_rejected_rows_are_superseded_by_an_unplaced_row_of_another_kind() -> None:
    order = Superseding()
    delete = key_of("master:LOCATION", [(REF, "x")], {})
    order.rejected(3, delete)
    assert order.superseded_by(4, key_of("master:LOCATION", [(SERIAL, "5")], {})) == [3]
    order.rejected(6, delete)
    assert order.superseded_by(7, key_of("master:LOCATION", [(REF, "y")], {})) == []


def test_an_actito_profile_delete_giving_the_unique_value_shares_its_upserts_key() -> None:
    """A delete names the profile by profileId (placed by the mirror on record #42); with the
    unique attribute's value too it shares the token of that value's upserts, and goes after
    them. Without it, a placed delete and an unplaced upsert are two keys."""
    options = {"entity": "e", "unique:customers": "emailAddress"}
    upsert_spec = actito_push.push("profiles:customers", "upsert", options)
    delete_spec = actito_push.push("profiles:customers", "delete", options)
    upsert_row = {"emailAddress": "ann@example.com", "lastName": "A"}
    with_email = {"profileId": 42, "emailAddress": "ann@example.com"}
    alone = {"profileId": 42}
    assert delete_spec.order.names is not None and upsert_spec.order.names is None
    places = {(("profileId",), "42"): {"42"}}
    upsert = key_of("profiles:customers", [((), upsert_spec.key(upsert_row))], {})
    delete = key_of("profiles:customers", delete_spec.order.names(with_email), places, places)
    bare = key_of("profiles:customers", delete_spec.order.names(alone), places, places)
    assert upsert.same(delete) and not upsert.same(bare)
    assert waves([upsert, delete]) == [0, 1]
