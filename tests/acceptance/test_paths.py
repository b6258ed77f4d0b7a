"""Where the embedded Postgres lives: the same one for a config from any working directory, and
never a new one made silently by an unattended run (issue 11, part 9)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.commands import syncer

pytestmark = pytest.mark.acceptance


def bare_env(**extra: str) -> dict[str, str]:
    """The environment without any database URL, home or config (stdin is not a terminal)."""
    drop = {"SYNCER_DATABASE_URL", "SYNCER_HOME", "SYNCER_CONFIG"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


async def run_in(folder: Path, *args: str, environ: dict[str, str]) -> tuple[int, str, str]:
    here = Path.cwd()
    os.chdir(folder)
    try:
        return await syncer(*args, environ={**environ, "PYTHONPATH": str(here)})
    finally:
        os.chdir(here)


async def test_an_unattended_run_never_makes_a_new_embedded_database(tmp_path: Path) -> None:
    """Not on a terminal, with no database anywhere: exit 6 saying how to fix it, and nothing
    is created in the working directory."""
    code, _, err = await run_in(tmp_path, "status", environ=bare_env())
    assert code == 6
    assert "no embedded Postgres at" in err and "syncer db init" in err
    assert "SYNCER_DATABASE_URL" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform != "linux", reason="pgserver's embedded Postgres")
async def test_a_config_reaches_the_same_embedded_database_from_any_folder(
    tmp_path: Path,
) -> None:
    """`home` in a config is relative to the file: `db init` there, then a run started in
    another folder (through SYNCER_CONFIG) uses the same server, and makes no second one."""
    project = tmp_path / "project"
    project.mkdir()
    config = project / "syncer.toml"
    config.write_text(
        'home = "state"\n[[connections]]\nname = "exto"\nvendor = "exto"\n'
        'base_url = "http://127.0.0.1:9/data"\ntoken_env = "T"\nrate_limit = 1\n'
        'streams = ["master:LOCATION"]\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = bare_env()
    try:
        code, out, err = await run_in(
            project, "db", "init", "--config", "syncer.toml", environ=environ
        )
        assert code == 0, err
        assert f"created at {project / 'state' / 'pgdata'}" in out
        code, out, err = await run_in(
            elsewhere, "db", "url", environ={**environ, "SYNCER_CONFIG": str(config)}
        )
        assert code == 0, err
        assert f"host={project / 'state' / 'pgdata'}" in out
        assert os.listdir(elsewhere) == []
        code, out, _ = await run_in(
            project, "db", "init", "--config", "syncer.toml", environ=environ
        )
        assert code == 0 and "embedded Postgres at" in out and "created" not in out
    finally:
        await run_in(elsewhere, "db", "stop", environ={**environ, "SYNCER_CONFIG": str(config)})
