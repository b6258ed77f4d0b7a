"""Kill points for the fault suite (docs/reliability.md): inert unless `SYNCER_KILL_AT` is set.

`SYNCER_KILL_AT=before_commit:3` sends SIGKILL to this process just before the third page
commit of the run (the page is staged and merged, its transaction not committed);
`after_commit:3` just after the third commit returned. Nothing else reads the variable, and a
process without it pays one dictionary lookup per page.
"""

from __future__ import annotations

import os
import signal

_WHERE, _, _NTH = (os.environ.get("SYNCER_KILL_AT") or "").partition(":")
_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Count a pass through `point`; SIGKILL this process on the configured one."""
    if point != _WHERE:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if str(_seen[point]) == _NTH:
        os.kill(os.getpid(), signal.SIGKILL)
