"""What syncer.memo keeps of a decoded page, what it gives back, and what its digest covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from syncer.memo import hollow, settings_digest
from syncer.mirror import Remembered
from syncer.redact import Redaction, parse_path
from syncer.workers import DecodedPage, MemoRequest, body_digest, decode_page, memo_entry

FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def body(n: int = 5, updated: str = "2025-01-01T00:00:00.000Z") -> bytes:
    rows = [
        {"_id": f"k{i}", "updatedAt": updated, "customFields": {"name": f"n{i}", "size": i}}
        for i in range(n)
    ]
    return orjson.dumps({"rows": rows, "total": 40, "page": 2, "pageSize": n, "totalPages": 8})


def kept(page: DecodedPage) -> Remembered:
    """The page as its merge writes it to syncer.page_memo and a recall reads it back."""
    entry = memo_entry(page, b"", MemoRequest(b"k", b"digest", "2"))
    keys = orjson.dumps([r.key for r in page.prepared.rows]).decode()
    return Remembered(keys, entry.hashes, entry.page)


def test_a_remembered_page_comes_back_with_keys_hashes_and_paging_but_no_text() -> None:
    raw = body()
    page = decode_page("exto", "master:LOCATION", {}, raw)
    back = hollow(kept(page), raw, FUTURE)
    assert back is not None and back.prepared.hollow and back.source == raw
    assert [(r.key, r.digest) for r in back.prepared.rows] == [
        (r.key, r.digest) for r in page.prepared.rows
    ]
    assert all(r.text == "" and r.updated_at is None for r in back.prepared.rows)
    assert back.prepared.newest == page.prepared.newest is not None
    assert back.prepared.fields == page.prepared.fields
    same = ("record_count", "item_count", "total_pages", "next_cursor", "paginated")
    assert all(getattr(back, f) == getattr(page, f) for f in same)
    assert (back.body_bytes, back.total_records, back.fingerprint) == (
        page.body_bytes,
        page.total_records,
        page.fingerprint,
    )


def test_a_page_stamped_in_the_future_is_decoded_again() -> None:
    """read.py counts future stamps from decoded rows: such a page is never recalled."""
    raw = body(updated="2031-06-01T00:00:00.000Z")
    page = decode_page("exto", "master:LOCATION", {}, raw)
    assert hollow(kept(page), raw, FUTURE) is None
    assert hollow(kept(page), raw, FUTURE + timedelta(days=900)) is not None


def test_hashes_that_do_not_match_the_keys_are_not_recalled() -> None:
    raw = body()
    page = kept(decode_page("exto", "master:LOCATION", {}, raw))
    broken = Remembered(page.keys, page.hashes[:-1], page.page)
    assert hollow(broken, raw, FUTURE) is None


def test_the_digest_covers_stream_options_and_redaction_but_never_holds_the_key() -> None:
    base = settings_digest("exto", "master:LOCATION", {}, None)
    assert base == settings_digest("exto", "master:LOCATION", {}, None)
    assert base != settings_digest("exto", "master:OTHER", {}, None)
    assert base != settings_digest("exto", "master:LOCATION", {"a": "b"}, None)
    hashed = Redaction(hashed=(parse_path("email"),), key=b"secret-one")
    other_key = Redaction(hashed=(parse_path("email"),), key=b"secret-two")
    excluded = Redaction(exclude=(parse_path("email"),))
    digests = {
        settings_digest("exto", "master:LOCATION", {}, r) for r in (hashed, other_key, excluded)
    }
    assert len(digests | {base}) == 4
    assert b"secret-one" not in repr(hashed).encode()


def test_a_page_decoded_for_the_memo_comes_back_with_its_entry_unless_it_quarantined() -> None:
    raw = body()
    page = decode_page("exto", "master:LOCATION", {}, raw, None, b"", MemoRequest(b"k", None, "2"))
    assert page.remember is not None
    assert page.remember.digest == body_digest(raw, b"k") != body_digest(raw, b"j")
    assert page.remember.position == "2"
    assert page.remember.hashes == b"".join(r.digest for r in page.prepared.rows)
    bad = raw.replace(b'"_id":"k3"', b'"_id":"k3\\u0000"')
    assert bad != raw
    quarantined = decode_page(
        "exto", "master:LOCATION", {}, bad, None, b"", MemoRequest(b"k", None, "2")
    )
    assert quarantined.prepared.rejected and quarantined.remember is None
