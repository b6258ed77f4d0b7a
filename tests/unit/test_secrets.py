"""Secrets in URLs, logs and errors; the database URL and base_url rules; config-relative paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from syncer import db, errors, log
from syncer.auth import TokenExchange
from syncer.settings import is_loopback, load_config

PASSWORD = "s3cret-canary-9f1c"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://alice:{PASSWORD}@db.example.com:5432/mirror",
        f"postgresql://alice@db.example.com/mirror?password={PASSWORD}",
        f"postgresql://alice@db.example.com/mirror?sslmode=require&PassWord={PASSWORD}",
        f"postgresql://alice@db.example.com/mirror?password=x1y2z3&password={PASSWORD}",
        f"postgresql://alice@db.example.com/mirror?%70assword={PASSWORD}",
        f"postgresql://alice@db.example.com/mirror?password={PASSWORD.replace('-', '%2D')}",
        f"postgresql://alice:{PASSWORD}@h1:5432,h2:5433/mirror?password={PASSWORD}",
        f"postgresql://alice:p@ss{PASSWORD}@db.example.com/mirror",
        f"postgresql://alice@db.example.com/mirror?sslpassword={PASSWORD}",
    ],
)
def test_printed_urls_hold_no_password_in_any_form(url: str) -> None:
    shown = db.display_url(url)
    assert PASSWORD not in shown and "%2D" not in shown and "x1y2z3" not in shown
    assert "password" not in shown.lower()
    assert "alice@" in shown and "mirror" in shown


def test_the_password_psql_gets_is_the_one_asyncpg_uses() -> None:
    bare, password = db.split_password(
        f"postgresql://alice:{PASSWORD}@db/m?password=other&sslmode=require"
    )
    assert (bare, password) == ("postgresql://alice@db/m?sslmode=require", PASSWORD)
    assert db.split_password("postgresql://a@db/m?password=one&password=two%21")[1] == "two!"
    assert db.split_password("postgresql://a@db/m")[1] is None


def test_every_form_of_the_password_is_a_secret() -> None:
    url = "postgresql://a@db/m?password=we%21rd-pass"
    assert {"we%21rd-pass", "we!rd-pass"} <= set(db.url_secrets(url))


def test_psql_gets_the_password_in_its_environment_never_on_argv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, f"postgresql://u@127.0.0.1/m?password={PASSWORD}")
    argv, environment = db.psql_command(db.resolve_url())
    assert argv == ["psql", "postgresql://u@127.0.0.1/m"]
    assert environment["PGPASSWORD"] == PASSWORD
    assert log.scrub(f"failed with {PASSWORD}") == "failed with ***"


def test_psql_refuses_an_sslpassword_it_could_only_put_on_argv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, f"postgresql://u@h/m?sslpassword={PASSWORD}")
    with pytest.raises(errors.ConfigError, match="sslpassword") as caught:
        db.psql_command(db.resolve_url())
    assert PASSWORD not in caught.value.message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not a url", "postgresql://"),
        ("mysql://u:p@h/db", "postgresql://"),
        (f"postgresql://u:{PASSWORD}@localhost:abc/db", "port 'abc'"),
        ("postgresql://u@localhost:99999/db", "port '99999'"),
        ("postgresql://u@h1:5432,h2:x/db", "port 'x'"),
        ("postgresql://u@[::1/db", "parsed"),
        ("postgresql://u@[::1]x/db", "IPv6"),
        ("postgresql://u@h/db?port=5x", "port '5x'"),
        ("postgresql://u@h/db?sslmode", "query"),
    ],
)
def test_a_malformed_database_url_names_the_variable_and_never_its_value(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, value)
    with pytest.raises(errors.ConfigError) as caught:
        db.database_url()
    message = caught.value.message
    assert db.DATABASE_URL_ENV in message and problem in message
    assert PASSWORD not in message and caught.value.exit_code == 6


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://u:p@db.example.com:5432/mirror",
        "postgres://u@[::1]:5433/mirror?sslmode=require",
        "postgresql://u@h1:5432,h2:5433/m",
        "postgresql://postgres:@/postgres?host=/tmp/sock",
    ],
)
def test_good_database_urls_pass(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, value)
    assert db.database_url() == value


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("localhost.example.com", False),
        ("api.actito.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


CONFIG = """
[[connections]]
name = "exto"
vendor = "exto"
base_url = "{base_url}"
token_env = "EXTO_TOKEN"
rate_limit = 3
streams = ["users"]
{extra}
"""


def _write(path: Path, base_url: str = "https://vendor.example.com/data", extra: str = "") -> Path:
    path.write_text(CONFIG.format(base_url=base_url, extra=extra))
    return path


@pytest.mark.parametrize(
    "base_url", ["http://vendor.example.com/data", "http://10.1.2.3:8080/data", "http://[fe80::1]/"]
)
def test_plain_http_to_another_machine_is_a_config_error(tmp_path: Path, base_url: str) -> None:
    with pytest.raises(errors.ConfigError, match=r"connection 'exto'.*use https://"):
        load_config(_write(tmp_path / "c.toml", base_url))


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8765/data", "http://localhost/data", "http://[::1]:80/data"]
)
def test_plain_http_to_this_machine_and_https_anywhere_load(tmp_path: Path, base_url: str) -> None:
    assert load_config(_write(tmp_path / "c.toml", base_url)).connections[0].base_url
    assert load_config(_write(tmp_path / "d.toml")).connections[0].base_url.startswith("https")


def test_ca_file_is_relative_to_the_config_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "syncer"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    config = _write(folder / "syncer.toml", extra='ca_file = "certs/ca.pem"')
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(config)
    assert loaded.connections[0].ca_file == folder.resolve() / "certs" / "ca.pem"
    relative = load_config(Path(os.path.relpath(config, elsewhere)))
    assert relative.connections[0].ca_file == folder.resolve() / "certs" / "ca.pem"


def test_a_missing_ca_file_is_a_config_error_at_load(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", extra='ca_file = "nowhere/ca.pem"')
    with pytest.raises(errors.ConfigError, match=r"ca_file.*nowhere/ca\.pem"):
        load_config(config)


def test_errors_and_nested_log_values_are_scrubbed_of_registered_secrets() -> None:
    secret = "registered-canary-4a7e"
    log.register_secret(secret)
    error = errors.FatalVendorError(f"HTTP 400: token {secret} refused", body=f"{secret}!")
    assert secret not in str(error) and secret not in error.body and "***" in error.message
    event = log.redact(None, "info", {"detail": {"items": [f"x {secret}"]}, "token": "abc"})
    assert event == {"detail": {"items": ["x ***"]}, "token": "***"}


async def test_an_exchanged_token_is_registered_before_it_is_used() -> None:
    exchanged = "exchanged-canary-b81d"

    async def fetch() -> tuple[str, float]:
        return exchanged, 900.0

    headers = await TokenExchange(fetch).headers()
    assert headers["Authorization"] == f"Bearer {exchanged}"
    with structlog.testing.capture_logs(processors=[log.redact]) as captured:
        structlog.get_logger().warning("http.failed", error=f"401 for Bearer {exchanged}")
    assert captured[0]["error"] == "401 for Bearer ***"
    assert exchanged not in errors.AuthError(f"refused {exchanged}").message
