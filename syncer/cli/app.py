"""The command line's shared parts: the typer app and its help layout, the global options, and
the one way every command reports an error and exits (`fail`, `run`). Command modules beside it
parse their options, call one function of syncer, and print its report (syncer/report.py).

Exit codes: 0 ok · 1 internal error · 2 usage · 3 finished, but look (quarantined records, an
incomplete pass, held deletes) · 4 already running · 5 transient vendor/network/database failure ·
6 auth or configuration · 7 `syncer health`: a stream failed, never succeeded or is stale ·
130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from rich.text import Text
from typer import _click as click  # typer's own click: the help layout
from typer.core import TyperGroup

from syncer import db, errors, log, settings
from syncer.report import err, out

T = TypeVar("T")
EXIT_CODES = (
    "Exit codes: 0 ok; 1 internal error; 2 usage; 3 finished, but look: records quarantined, "
    "a pass incomplete or deletes held (syncer status); "
    "4 already running; 5 transient vendor, network or database failure (retry later); "
    "6 auth or configuration failure (fix, then retry); "
    "7 unhealthy (syncer health): a stream's last run failed, it never succeeded, or it is "
    "staler than its max_staleness."
)

#: `syncer --help` lists the commands in these sections, in this order
SECTIONS = (
    ("Start", ("sandbox", "check", "sync", "status", "psql")),
    ("Pull", ("backfill", "state", "deletes", "health")),
    ("Push", ("plan", "push", "outbox")),
    ("Operate", ("worker", "jobs")),
    ("Set up", ("db", "migrate", "grant-analyst")),
)


class _Listing(TyperGroup):
    """A group's help lists each command with its whole first sentence."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _Commands(_Listing):
    """The top-level help: commands by section, each with its whole first sentence."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        order = [name for _, names in SECTIONS for name in names]
        known = super().list_commands(ctx)
        return [n for n in order if n in known] + [n for n in known if n not in order]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = set(self.list_commands(ctx))
        placed = {name for _, names in SECTIONS for name in names}
        sections = [*SECTIONS, ("Other", tuple(sorted(listed - placed)))]
        for title, names in sections:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if name in listed and command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=200)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def group(help: str, **settings: Any) -> typer.Typer:
    """A command group, with the same plain help layout as every command (no type boxes)."""
    settings.setdefault("no_args_is_help", True)
    return typer.Typer(help=help, rich_markup_mode=None, cls=_Listing, **settings)


app = typer.Typer(
    name="syncer",
    help="Sync vendor REST APIs into a Postgres mirror.\n\n"
    "Try it on the sandbox: `make sandbox` in one terminal, its export lines and then this "
    "in another.\n\nExample: syncer sync --config config/sandbox.toml\n\n" + EXIT_CODES,
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="SYNCER_CONFIG",
        help="TOML file of connections and streams.",
        show_default=True,
    ),
]
DEFAULT_CONFIG = Path("config/sandbox.toml")


def fail_with(exc: errors.SyncerError) -> typer.Exit:
    """Report a syncer error once (scrubbed): one plain line on a terminal, one JSON event
    off it; give its exit."""
    return fail(exc.message, exc.exit_code)


def fail(message: str, code: errors.ExitCode) -> typer.Exit:
    """Report why the command stops, and give its exit: `error: ...` on a terminal, a
    `command.failed` JSON event (with the exit code) when stderr carries JSON lines."""
    message = log.scrub(message)
    if log.is_json():
        structlog.get_logger("syncer").error("command.failed", error=message, exit_code=int(code))
    else:
        err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)
    return typer.Exit(int(code))


#: the exit of a command stopped by Ctrl-C (SIGINT), as shells report it
INTERRUPTED = 130


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with syncer errors printed plainly and turned into exit codes."""
    try:
        return asyncio.run(coro)
    except errors.SyncerError as exc:
        raise fail_with(exc) from None
    except KeyboardInterrupt:
        if log.is_json():
            structlog.get_logger("syncer").warning("command.interrupted", exit_code=INTERRUPTED)
        else:
            err.print("\ninterrupted: the next run resumes each pass after its last checkpoint")
        raise typer.Exit(INTERRUPTED) from None


def database(cfg: settings.Config | None = None) -> str:
    """The database URL, or exit: a malformed SYNCER_DATABASE_URL is a one-line exit 6.

    Without SYNCER_DATABASE_URL, the embedded Postgres lives in SYNCER_HOME, else in the
    config's `home` (the command's config, else the file SYNCER_CONFIG names), else in
    ./.syncer. A new one is made only when run from a terminal, and says where."""
    try:
        chosen = cfg or env_config()
        configured = chosen.home if chosen else None
        if db.database_url() is None and not db.embedded_exists(configured):
            if not err.is_terminal:
                return db.resolve_url(configured, create=False)  # the error says what to do
            where = db.home(configured) / "pgdata"
            err.print(
                f"creating an embedded Postgres at {where} (SYNCER_DATABASE_URL is not set; "
                "SYNCER_HOME, or `home` in the config, chooses the folder)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        return db.resolve_url(configured)
    except errors.SyncerError as exc:
        raise fail_with(exc) from None


def env_config() -> settings.Config | None:
    """The config SYNCER_CONFIG names, for commands without --config (its `home` locates the
    embedded Postgres); None when unset or not there."""
    path = os.environ.get("SYNCER_CONFIG", "").strip()
    if not path or not Path(path).is_file():
        return None
    return load(Path(path))


def load(path: Path) -> settings.Config:
    """The config file at `path`, or exit 6 saying what is wrong with it."""
    try:
        return settings.load_config(path)
    except errors.ConfigError as exc:
        raise fail_with(exc) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"syncer {metadata.version('syncer')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _setup(
    log_level: Annotated[
        str | None,
        typer.Option(
            metavar="LEVEL", help="debug, info, warning or error. Default: warning on a terminal."
        ),
    ] = None,
    json_logs: Annotated[
        bool | None, typer.Option("--json-logs/--console-logs", help="Default: JSON off a tty.")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    log.configure(json=json_logs, level=log_level or ("warning" if err.is_terminal else "info"))


def queued(outcomes: list[tuple[str, int | None]]) -> None:
    """Say where each queued run went (or that one already waits)."""
    for name, job_id in outcomes:
        if job_id is None:
            out.print(f"{name}: a run already waits in the queue", highlight=False)
        else:
            out.print(f"{name}: queued as job {job_id}", highlight=False)
    out.print(f"Workers run them ({self_command()} worker); see them with {self_command()} jobs")


def self_command() -> str:
    """How the user ran syncer, to repeat it in hints: `.venv/bin/syncer`, `syncer`, ..."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "syncer":
        return "python -m syncer"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return "syncer"
