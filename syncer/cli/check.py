"""`syncer check`: each connection probed once (syncer/probe.py), as a table."""

from __future__ import annotations

import typer

from syncer import errors, probe, settings
from syncer.cli.app import (
    DEFAULT_CONFIG,
    ConfigOption,
    load,
    run,
)
from syncer.report import Column, out, show


def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Probe each connection once, never retrying: the vendor's readiness endpoint, then one
    request with the token. Every missing token variable is named at once.

    Example: syncer check --config config/sandbox.toml
    """
    cfg = load(config)
    probes = run(probe.check(cfg))
    show(
        out,
        "connection check",
        (
            Column("connection", head=True),
            Column("readiness", head=True),
            Column("probe", prose=True),
        ),
        [[p.connection, p.readiness, p.said] for p in probes],
    )
    missing = settings.missing_tokens(cfg.connections)
    if missing:
        out.print(
            f"not set: {', '.join(missing)}; export each with its vendor's token, e.g. "
            f"export {missing[0]}=...",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(int(errors.worst(p.exit_code for p in probes)))
