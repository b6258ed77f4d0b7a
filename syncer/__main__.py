"""`python -m syncer`."""

from __future__ import annotations

from syncer.cli import main

main()
