"""A pass's completeness evidence (syncer.evidence), page by page, with hand-built pages."""

from __future__ import annotations

from dataclasses import dataclass

from syncer.evidence import MAX_PROBLEMS, PassEvidence


@dataclass(frozen=True)
class Page:
    item_count: int
    total_records: int | None = None
    total_pages: int | None = None
    paginated: bool = True
    fingerprint: bytes | None = None


def page(n: int, items: int, total: int | None = None, pages: int | None = None) -> Page:
    return Page(items, total, pages, fingerprint=f"page-{n}".encode() if items else None)


def observe_all(evidence: PassEvidence, pages: list[Page]) -> bool:
    return all(evidence.observe(n, p) for n, p in enumerate(pages, start=1))


def test_pages_that_agree_with_the_total_leave_the_pass_complete() -> None:
    evidence = PassEvidence(100)
    pages = [page(n, 100, 250, 3) for n in (1, 2)] + [page(3, 50, 250, 3), page(4, 0, 250, 3)]
    assert observe_all(evidence, pages) and evidence.complete


def test_a_page_one_record_short_in_the_middle_is_a_contradiction() -> None:
    evidence = PassEvidence(100)
    observe_all(evidence, [page(1, 100, 3000, 30), page(2, 100, 3000, 30), page(3, 99, 3000, 30)])
    assert not evidence.complete
    assert "page 3 held 99 records where the vendor's total of 3000 means 100" in evidence.summary()


def test_an_empty_page_in_the_middle_is_a_contradiction() -> None:
    evidence = PassEvidence(100)
    observe_all(evidence, [page(1, 100, 3000, 30), page(2, 0, 3000, 30)])
    assert not evidence.complete


def test_total_pages_that_disagree_with_the_total_are_a_contradiction() -> None:
    evidence = PassEvidence(100)
    evidence.observe(1, page(1, 100, 3000, 25))
    assert "reported totalPages 25, but a total of 3000 at 100 per page is 30" in evidence.summary()


def test_an_empty_selection_may_report_zero_pages_or_one() -> None:
    for pages in (0, 1):
        evidence = PassEvidence(100)
        evidence.observe(1, page(1, 0, 0, pages))
        assert evidence.complete, evidence.problems


def test_records_past_the_reported_total_are_a_contradiction() -> None:
    """Both counts under-reported consistently: only the page after the end shows it."""
    evidence = PassEvidence(100)
    observe_all(evidence, [page(n, 100, 200, 2) for n in (1, 2)] + [page(3, 100, 200, 2)])
    assert "page 3 held 100 records where the vendor's total of 200 means 0" in evidence.summary()


def test_counts_that_move_with_the_collection_are_checked_page_by_page() -> None:
    """Offset paging on a live collection: each page agrees with its own answer's total."""
    evidence = PassEvidence(100)
    pages = [page(1, 100, 300, 3), page(2, 100, 320, 4), page(3, 100, 320, 4), page(4, 20, 320, 4)]
    assert observe_all(evidence, pages) and evidence.complete


def test_with_only_total_pages_a_short_page_before_the_last_is_a_contradiction() -> None:
    evidence = PassEvidence(100)
    observe_all(evidence, [page(1, 100, None, 3), page(2, 60, None, 3)])
    assert "page 2 held 60 of 100 records before the last page (3)" in evidence.summary()


def test_without_counts_records_after_a_short_page_are_a_contradiction() -> None:
    evidence = PassEvidence(100)
    observe_all(evidence, [page(1, 100), page(2, 40), page(3, 100)])
    assert "page 2 held fewer than 100 records, yet page 3 held 100" in evidence.summary()


def test_without_counts_a_short_last_page_is_the_end() -> None:
    evidence = PassEvidence(100)
    assert observe_all(evidence, [page(1, 100), page(2, 40), page(3, 0)]) and evidence.complete


def test_a_page_repeating_an_earlier_one_stops_the_pass() -> None:
    evidence = PassEvidence(100)
    assert evidence.observe(1, Page(100, 3000, 30, fingerprint=b"a"))
    assert not evidence.observe(2, Page(100, 3000, 30, fingerprint=b"a"))
    assert "page 2 held the same records as page 1" in evidence.summary()


def test_a_resumed_pass_knows_the_last_page_and_the_problems_before_it() -> None:
    first = PassEvidence(100)
    first.observe(1, Page(100, fingerprint=b"a"))
    first.observe(2, Page(40, fingerprint=b"b"))
    resumed = PassEvidence(100, problems=["an earlier problem"], state=first.state)
    assert not resumed.observe(3, Page(40, fingerprint=b"b"))  # page 2 again
    again = PassEvidence(100, state=first.state)
    again.observe(3, Page(100, fingerprint=b"c"))
    assert "page 2 held fewer than 100 records, yet page 3 held 100" in again.summary()
    assert not PassEvidence(100, problems=["an earlier problem"]).complete


def test_problems_are_committed_once_and_capped() -> None:
    evidence = PassEvidence(10)
    for n in range(1, MAX_PROBLEMS + 10):
        evidence.note(f"problem {n}")
    assert len(evidence.take()) == MAX_PROBLEMS and evidence.take() == []
    assert evidence.summary().endswith("(and 9 more)")


def test_cursor_passes_check_repeats_but_not_counts() -> None:
    evidence = PassEvidence(100, arithmetic=False)
    assert evidence.observe(1, Page(7, fingerprint=b"a"))
    assert evidence.observe(2, Page(100, fingerprint=b"b")) and evidence.complete
    assert not evidence.observe(3, Page(100, fingerprint=b"a"))
