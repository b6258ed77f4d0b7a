"""Config settings that are not connection fields: where the embedded Postgres lives."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncer import db, errors, settings


def test_home_is_relative_to_the_config_file_and_syncer_home_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conf" / "s.toml"
    path.parent.mkdir()
    path.write_text(
        'home = "../state"\n[[connections]]\nname = "exto"\nvendor = "exto"\n'
        'base_url = "https://h/data"\ntoken_env = "T"\nrate_limit = 1\nstreams = ["users"]\n'
    )
    cfg = settings.load_config(path)
    assert cfg.home == (tmp_path / "state").resolve()
    monkeypatch.delenv(db.HOME_ENV, raising=False)
    assert db.home(cfg.home) == (tmp_path / "state").resolve()
    monkeypatch.setenv(db.HOME_ENV, str(tmp_path / "other"))
    assert db.home(cfg.home) == (tmp_path / "other").resolve()
    monkeypatch.delenv(db.HOME_ENV)
    monkeypatch.chdir(tmp_path)
    assert db.home(None) == (tmp_path / ".syncer").resolve()


def _connection(**extra: object) -> dict[str, object]:
    return {
        "name": "exto",
        "vendor": "exto",
        "base_url": "https://h/data",
        "token_env": "T",
        "rate_limit": 3,
        "streams": ["master:LOCATION", "users"],
        **extra,
    }


def test_per_stream_settings_override_the_connections() -> None:
    cfg = settings.Config.model_validate(
        {
            "connections": [
                _connection(
                    page_size=1000,
                    headers={"x-a": "1"},
                    schedules=[{"cron": "0 2 * * *"}],
                    max_staleness="26h",
                    per_stream={
                        "master:LOCATION": {
                            "mode": "incremental",
                            "page_size": 500,
                            "window": 2,
                            "max_staleness": "90m",
                            "options": {"status": "Approved"},
                            "headers": {"X-PROJECT-ID": "42"},
                            "schedules": [{"cron": "0 4 * * 0", "mode": "full"}],
                        }
                    },
                )
            ]
        }
    )
    conn = cfg.connections[0]
    own = conn.stream_config("master:LOCATION")
    assert (own.mode, own.page_size, own.window, own.max_staleness) == ("incremental", 500, 2, 5400)
    assert own.options == {"status": "Approved"}
    assert own.headers == {"x-a": "1", "X-PROJECT-ID": "42"}
    assert [(s.cron, s.mode) for s in own.schedules] == [("0 4 * * 0", "full")]
    other = conn.stream_config("users")
    assert (other.mode, other.page_size, other.window, other.max_staleness) == (
        "full",
        1000,
        8,
        26 * 3600,
    )
    assert [(s.cron, s.mode) for s in other.schedules] == [("0 2 * * *", "incremental")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"per_stream": {"nope": {}}}, "per_stream names streams that are not in streams: nope"),
        ({"schedules": [{"cron": "every night"}]}, "is not a cron expression"),
        ({"schedules": [{"cron": "0 2 * * * *"}]}, "is not a cron expression"),
        ({"max_staleness": "soon"}, "is not a duration"),
        ({"per_stream": {"users": {"mode": "sometimes"}}}, "full"),
    ],
)
def test_bad_stream_settings_say_what_to_fix(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings.Config.model_validate({"connections": [_connection(**extra)]})


def test_base_url_takes_variables_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_PORT_X", raising=False)
    url = "http://127.0.0.1:${SANDBOX_PORT_X:-8765}/data"
    cfg = settings.ConnectionConfig.model_validate(_connection(base_url=url))
    assert cfg.base_url == "http://127.0.0.1:8765/data"
    monkeypatch.setenv("SANDBOX_PORT_X", "8791")
    cfg = settings.ConnectionConfig.model_validate(_connection(base_url=url))
    assert cfg.base_url == "http://127.0.0.1:8791/data"


def test_a_base_url_variable_that_is_not_set_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VENDOR_HOST_X", raising=False)
    with pytest.raises(ValidationError, match=r"\$\{VENDOR_HOST_X\}, which is not set"):
        settings.ConnectionConfig.model_validate(
            _connection(base_url="https://${VENDOR_HOST_X}/data")
        )


def test_every_missing_token_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKEN_A_X", raising=False)
    monkeypatch.delenv("TOKEN_B_X", raising=False)
    monkeypatch.setenv("TOKEN_C_X", "set")
    cfg = settings.Config.model_validate(
        {
            "connections": [
                _connection(name=name, token_env=env)
                for name, env in (("a", "TOKEN_A_X"), ("b", "TOKEN_B_X"), ("c", "TOKEN_C_X"))
            ]
        }
    )
    with pytest.raises(errors.ConfigError, match="variables TOKEN_A_X, TOKEN_B_X are not set"):
        settings.tokens(cfg.connections)
    monkeypatch.setenv("TOKEN_A_X", "set")
    monkeypatch.setenv("TOKEN_B_X", "set")
    assert set(settings.tokens(cfg.connections)) == {"a", "b", "c"}


def test_a_commands_exit_is_its_most_serious_part() -> None:
    code = errors.ExitCode
    assert errors.worst([]) == code.OK
    assert errors.worst([code.OK, code.QUARANTINED]) == code.QUARANTINED
    assert errors.worst([code.QUARANTINED, code.TRANSIENT, code.ALREADY_RUNNING]) == code.TRANSIENT
    assert errors.worst([code.TRANSIENT, code.AUTH_OR_CONFIG]) == code.AUTH_OR_CONFIG
