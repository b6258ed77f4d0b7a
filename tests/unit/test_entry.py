"""The console entry point (syncer/cli/__init__.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_command_freezes_what_it_imported_out_of_the_collectors_sight() -> None:
    """What the commands' imports made lives as long as the process: the cyclic collector
    (during a run and at the interpreter's exit) must not walk it again and again."""
    program = (
        "import gc, sys\n"
        "sys.argv = ['syncer', '--version']\n"
        "from syncer.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.get_freeze_count())"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(done.stdout.split()[-1]) > 10_000, done.stdout + done.stderr


#: what the `syncer` console script runs (pip writes it so), then asks its worker what it imported
CONSOLE_SCRIPT = """
import sys
from syncer.cli import main
if __name__ == "__main__":
    from syncer import workers
    heavy = ("typer", "click", "aiohttp", "asyncpg", "pydantic", "syncer.cli.commands")
    ask = f"[m for m in {heavy!r} if m in __import__('sys').modules]"
    print(workers._get_pool().submit(eval, ask).result())
"""


def test_a_worker_of_the_console_script_does_not_import_the_commands(tmp_path: Path) -> None:
    """A worker re-imports the script its parent was started from (multiprocessing's
    __mp_main__): the `syncer` script imports syncer.cli, which must not pull in the commands
    and the libraries they use (0.5 to 0.8 s of CPU per worker at every run's start)."""
    script = tmp_path / "syncer"
    script.write_text(CONSOLE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
