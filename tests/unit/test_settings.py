"""Config settings that are not connection fields: where the embedded Postgres lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import settings


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
    monkeypatch.delenv(settings.HOME_ENV, raising=False)
    assert settings.home(cfg.home) == (tmp_path / "state").resolve()
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "other"))
    assert settings.home(cfg.home) == (tmp_path / "other").resolve()
    monkeypatch.delenv(settings.HOME_ENV)
    monkeypatch.chdir(tmp_path)
    assert settings.home(None) == (tmp_path / ".syncer").resolve()
