"""Health verdicts from a stream's runs (pure), the notification body, and notify_url checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncer import errors, health, log, settings
from syncer.health import StreamRuns, evaluate
from syncer.status import LANDED

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def runs(**fields: Any) -> StreamRuns:
    return StreamRuns("exto", "users", **fields)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_a_stream_never_run_never_succeeded() -> None:
    verdict = evaluate(runs(), None, NOW)
    assert (verdict.problem, verdict.staleness) == ("never_succeeded", None)
    assert verdict.detail == "no run has finished without failing"


def test_a_run_in_progress_does_not_make_a_first_run_a_success() -> None:
    verdict = evaluate(runs(running_since=ago(30)), 3600, NOW)
    assert verdict.problem == "never_succeeded"
    assert "a run has been running since 2026-12-07T11:59:30+00:00" in verdict.detail


@pytest.mark.parametrize("status", ["failed", "abandoned"])
def test_a_failed_last_run_is_unhealthy_even_when_fresh(status: str) -> None:
    verdict = evaluate(
        runs(
            last_run_id=9,
            last_status=status,
            last_finished_at=ago(5),
            last_error="exto refused the credential",
            good_run_id=8,
            good_finished_at=ago(60),
        ),
        3600,
        NOW,
    )
    assert verdict.problem == "failed"
    assert verdict.detail.startswith(f"run 9 {status} at 2026-12-07T11:59:55+00:00: exto refused")
    assert "last success 60s ago (run 8" in verdict.detail


def test_a_failed_only_run_says_it_never_succeeded() -> None:
    verdict = evaluate(
        runs(last_run_id=1, last_status="failed", last_finished_at=ago(1)), None, NOW
    )
    assert verdict.problem == "failed" and verdict.detail.endswith("; it never succeeded")


@pytest.mark.parametrize("status", LANDED)
def test_a_run_that_finished_without_failing_makes_the_stream_fresh(status: str) -> None:
    verdict = evaluate(
        runs(
            last_run_id=3,
            last_status=status,
            last_finished_at=ago(100),
            good_run_id=3,
            good_finished_at=ago(100),
        ),
        101,
        NOW,
    )
    assert verdict.problem is None and verdict.staleness == 100


def test_older_than_max_staleness_is_stale_and_no_max_is_never_stale() -> None:
    old = runs(last_run_id=3, last_status="succeeded", good_run_id=3, good_finished_at=ago(7200))
    stale = evaluate(old, 3600, NOW)
    assert stale.problem == "stale"
    assert stale.detail == (
        "last success 2h ago (run 3, finished 2026-12-07T10:00:00+00:00) (max_staleness 60m)"
    )
    assert evaluate(old, None, NOW).problem is None


def test_a_success_in_the_future_is_not_negative_staleness() -> None:
    verdict = evaluate(runs(good_run_id=1, good_finished_at=NOW + timedelta(seconds=9)), 1, NOW)
    assert verdict.staleness == 0 and verdict.problem is None


def test_the_notification_body_has_exactly_the_documented_fields_and_no_secret() -> None:
    log.register_secret("tok-123456")
    verdict = evaluate(
        runs(
            last_run_id=4,
            last_status="failed",
            last_finished_at=ago(1),
            last_error="boom tok-123456",
            good_run_id=2,
            good_finished_at=ago(90),
        ),
        60,
        NOW,
    )
    body = health.notification(verdict, NOW)
    assert body == {
        "connection": "exto",
        "stream": "users",
        "problem": "failed",
        "detail": body["detail"],
        "last_run_id": 4,
        "last_success_at": "2026-12-07T11:58:30+00:00",
        "max_staleness_s": 60,
        "checked_at": "2026-12-07T12:00:00+00:00",
    }
    assert "boom ***" in body["detail"] and "tok-123456" not in body["detail"]


def test_a_report_exits_7_only_when_a_stream_is_unhealthy() -> None:
    fresh = evaluate(runs(good_run_id=1, good_finished_at=ago(1)), None, NOW)
    assert health.Report(NOW, [fresh]).exit_code == errors.ExitCode.OK
    report = health.Report(NOW, [fresh, evaluate(runs(), None, NOW)])
    assert report.exit_code == errors.ExitCode.UNHEALTHY == 7
    assert [s.problem for s in report.unhealthy] == ["never_succeeded"]


def test_only_the_origin_of_a_notify_url_is_ever_printed() -> None:
    url = "https://user:pw@hooks.example.com:8443/services/T0/B0/s3cr3t?k=v"
    assert health.origin(url) == "https://hooks.example.com:8443"
    # an aiohttp error that quotes the URL, whole or in part, is cut back to the origin
    quoted = health._without(f"InvalidURL: {url}; path /services/T0/B0/s3cr3t?k=v", url)
    assert quoted == "InvalidURL: https://hooks.example.com:8443; path ..."


def _config(tmp_path: Path, notify_url: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[connections]]\nname = "exto"\nvendor = "exto"\nbase_url = "https://h/data"\n'
        f'token_env = "T"\nrate_limit = 1\nstreams = ["users"]\nnotify_url = "{notify_url}"\n'
    )
    return path


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x/y",
        "http://127.0.0.1:9/hook",
        "http://localhost/h",
        "http://[::1]/",
    ],
)
def test_notify_url_is_https_or_loopback_http(tmp_path: Path, url: str) -> None:
    assert settings.load_config(_config(tmp_path, url)).connections[0].notify_url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/services/s3cr3t", "plain http:// to hooks.example.com"),
        ("ftp://hooks.example.com/s3cr3t", "must be an https:// URL"),
        ("hooks.example.com/s3cr3t", "must be an https:// URL"),
        ("https:///s3cr3t", "must be an https:// URL"),
    ],
)
def test_a_bad_notify_url_is_a_config_error_that_does_not_repeat_its_path(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(errors.ConfigError, match=message) as caught:
        settings.load_config(_config(tmp_path, url))
    assert "connections.0.notify_url" in caught.value.message
    assert "s3cr3t" not in caught.value.message


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (1, "1s"),
        (1.54, "1.5s"),
        (119, "119s"),
        (3600, "60m"),
        (93600, "26h"),
        (129600, "36h"),
        (302400, "3.5d"),
    ],
)
def test_durations_read_like_the_config_writes_them(seconds: float, shown: str) -> None:
    assert health.duration(seconds) == shown
