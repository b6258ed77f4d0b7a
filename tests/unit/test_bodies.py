"""How a 2xx answer that is not JSON is described in the run's error."""

from __future__ import annotations

from syncer.bodies import describe

MAINTENANCE = (
    b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
    b"<title>\n  Exto &amp; co: down for maintenance\n</title></head>"
    b"<body><h1>Back soon</h1></body></html>"
)


def test_an_html_page_is_named_with_its_type_size_and_title() -> None:
    said = describe(MAINTENANCE, "text/html; charset=utf-8")
    assert said == (
        f'an HTML page (text/html, {len(MAINTENANCE):,} bytes, title "Exto & co: down for '
        'maintenance") instead of JSON'
    )


def test_html_is_recognised_without_its_content_type() -> None:
    """A proxy that labels its error page application/json (or nothing) is still caught."""
    said = describe(b"\xef\xbb\xbf  <html><body>Login</body></html>", "application/json")
    assert said == "an HTML page (application/json, 36 bytes) instead of JSON"
    assert describe(b"<HTML>", None) == "an HTML page (no Content-Type, 6 bytes) instead of JSON"


def test_a_long_or_odd_title_is_cut_and_cleaned() -> None:
    page = b"<html><title>" + "é\x07".encode() * 100 + b"</title>" + b"x" * 5000
    said = describe(page, "text/html")
    assert said.startswith('an HTML page (text/html, 5,321 bytes, title "éééé')
    assert "\x07" not in said and 'é…")' in said and len(said) < 200


def test_other_bodies_are_not_json_with_their_type_and_size() -> None:
    assert describe(b'{"rows": [', "application/json") == (
        "a body that is not JSON (application/json, 10 bytes)"
    )
    assert describe(b"", None) == "a body that is not JSON (no Content-Type, 0 bytes)"
    assert describe(b"x" * 1234, "text/plain") == (
        "a body that is not JSON (text/plain, 1,234 bytes)"
    )
