"""`syncer sync` and what every pulling command shows while it runs: a progress bar per stream
(starting at the checkpoint of a resumed pass), then the summary and what needs a look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from syncer import db, engine, errors, log, migrate, settings
from syncer.cli.app import (
    DEFAULT_CONFIG,
    ConfigOption,
    database,
    load,
    queued,
    run,
    self_command,
)
from syncer.report import Bars, out, summary
from syncer.run import Bounds, StreamResult
from syncer.status import Mode, RunStatus


def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            "--stream",
            "-s",
            metavar="NAME",
            help="Only this stream (NAME or CONNECTION/NAME); repeat.",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            metavar="full|incremental",
            help="full: read everything, infer deletes. incremental: since the cursor (a "
            "stream without a cursor yet, or without an updated-since filter, reads in full, "
            "and the summary says so). Default: each stream's `mode` (per_stream in the "
            "config), else full.",
        ),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Queue one job per stream for the workers instead.")
    ] = False,
) -> None:
    """Pull the configured streams into the mirror, writing only what changed.

    Applies pending migrations first. Resumes an interrupted pass from its checkpoint.

    Example: syncer sync --config config/sandbox.toml --stream master:LOCATION --mode incremental
    """
    if mode not in (None, Mode.FULL, Mode.INCREMENTAL):
        raise typer.BadParameter("must be full or incremental", param_hint="--mode")
    cfg = load(config)
    url = database(cfg)
    run(migrate.migrate(url))
    if queue:
        from syncer import jobs  # procrastinate: imported only to queue

        queued(run(jobs.queue_streams(url, cfg, stream or [], mode)))
        return
    results = pull(cfg, url, stream or (), mode)
    raise typer.Exit(int(errors.worst(r.exit_code for r in results)))


def pull(
    cfg: settings.Config,
    url: str,
    only: Sequence[str],
    mode: str | None,
    bounds: Bounds | None = None,
) -> list[StreamResult]:
    """Run `engine.sync` with progress bars, then print the summary; the results."""
    bars = Bars()
    log.summarised("stream.failed")  # the summary names each failed stream and why
    with bars.progress:
        results = run(engine.sync(cfg, url, only=only, mode=mode, progress=bars, bounds=bounds))
    summary(results)
    if any(r.status not in (RunStatus.FAILED, RunStatus.ALREADY_RUNNING) for r in results):
        out.print(
            f"\nOpen the mirror with psql: {self_command()} psql   (or: psql "
            f"'{db.display_url(url)}'; typed views are in schema mirror_view)",
            highlight=False,
            markup=False,
        )
    return results
