"""The console entry point (syncer/cli/__init__.py)."""

from __future__ import annotations

import subprocess
import sys


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
