"""The `syncer` command. The console entry point (`main`) imports the commands
(syncer/cli/commands.py) only when it runs, so importing this package costs nothing.

That matters for the decoding workers: a worker process re-imports the module its parent was
started from (multiprocessing's `__mp_main__`), and the `syncer` console script imports this
package. Were the commands imported here, every worker would import typer, rich, aiohttp,
asyncpg and pydantic before decoding its first page: 0.5 to 0.8 s of CPU per worker, taken
from the run it serves (issue 15's profile of `syncer sync`).
"""

from __future__ import annotations

import gc


def main() -> None:
    """Console entry point (pyproject's `syncer`): see syncer.cli.commands.main.

    What the imports made lives as long as the process, and what is left when the command
    ends is about to go: both are frozen out of the cyclic garbage collector's sight (the
    collections of a 300-page run and the interpreter's own at exit walked them again and
    again: 0.1 to 0.2 s of a `syncer sync`, measured with gc.callbacks and at exit)."""
    from syncer.cli import commands

    gc.freeze()
    try:
        commands.main()
    finally:
        gc.freeze()
