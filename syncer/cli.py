"""The `syncer` command. The only place that calls asyncio.run and maps errors to exit codes.

Exit codes: 0 ok · 1 internal error · 2 usage · 3 finished, but look (quarantined records, an
incomplete pass, held deletes) · 4 already running · 5 transient vendor/network/database failure ·
6 auth or configuration · 7 `syncer health`: a stream failed, never succeeded or is stale.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from rich.console import Console
from rich.text import Text
from typer import _click as click  # typer's own click: the help layout
from typer.core import TyperGroup

from syncer import db, errors, jobs, log, migrate, push, roles, settings
from syncer.connectors import CONNECTORS
from syncer.http import VendorClient
from syncer.mirror import Mirror
from syncer.tables import Column, show

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
db_app = group(
    "The embedded Postgres (used when SYNCER_DATABASE_URL is unset).\n\n"
    "Example: syncer db init --config config/sandbox.toml"
)
app.add_typer(db_app, name="db")
outbox_app = group(
    "Rows waiting to be pushed to the vendors (syncer.outbox).\n\nExample: syncer outbox drop 17 18"
)
app.add_typer(outbox_app, name="outbox")

# off a terminal, wide enough not to wrap a table (COLUMNS, when set, wins)
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
err = Console(stderr=True)

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


def say(message: str) -> None:
    """A line for the person at the terminal, on stderr; nothing when stderr carries JSON
    lines (the events say it there)."""
    if not log.is_json():
        err.print(message, markup=False, highlight=False, soft_wrap=True)


def _fail(exc: errors.SyncerError) -> typer.Exit:
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


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with syncer errors printed plainly and turned into exit codes."""
    try:
        return asyncio.run(coro)
    except errors.SyncerError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        if log.is_json():
            structlog.get_logger("syncer").warning("command.interrupted", exit_code=INTERRUPTED)
        else:
            err.print("\ninterrupted: the next run resumes each pass after its last checkpoint")
        raise typer.Exit(INTERRUPTED) from None


def _database(cfg: settings.Config | None = None) -> str:
    """The database URL, or exit: a malformed SYNCER_DATABASE_URL is a one-line exit 6.

    Without SYNCER_DATABASE_URL, the embedded Postgres lives in SYNCER_HOME, else in the
    config's `home` (the command's config, else the file SYNCER_CONFIG names), else in
    ./.syncer. A new one is made only when run from a terminal, and says where."""
    try:
        chosen = cfg or _env_config()
        configured = chosen.home if chosen else None
        if settings.database_url() is None and not db.embedded_exists(configured):
            if not err.is_terminal:
                return db.resolve_url(configured, create=False)  # the error says what to do
            where = settings.home(configured) / "pgdata"
            err.print(
                f"creating an embedded Postgres at {where} (SYNCER_DATABASE_URL is not set; "
                "SYNCER_HOME, or `home` in the config, chooses the folder)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        return db.resolve_url(configured)
    except errors.SyncerError as exc:
        raise _fail(exc) from None


def _env_config() -> settings.Config | None:
    """The config SYNCER_CONFIG names, for commands without --config (its `home` locates the
    embedded Postgres); None when unset or not there."""
    path = os.environ.get("SYNCER_CONFIG", "").strip()
    if not path or not Path(path).is_file():
        return None
    return _config(Path(path))


def _config(path: Path) -> settings.Config:
    try:
        return settings.load_config(path)
    except errors.ConfigError as exc:
        raise _fail(exc) from None


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


@app.command("grant-analyst")
def grant_analyst(
    role: Annotated[str, typer.Argument(help="The role to create or update.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding a password: the role may log in."),
    ] = None,
) -> None:
    """Create a read-only role for analysts: SELECT on every mirror table and typed view (now
    and later); no writes, no DDL, no access to syncer's own tables.

    Example: syncer grant-analyst analyst && syncer psql -c 'GRANT analyst TO alice'
    """
    url = _database()
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise fail(f"${password_env} is not set", errors.ExitCode.AUTH_OR_CONFIG)
        log.register_secret(password)

    async def go() -> bool:
        await migrate.migrate(url)
        return await roles.grant_analyst(url, role, password)

    created = _run(go())
    out.print(f"{'created' if created else 'updated'} read-only role {role}")


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations to the mirror database.

    Example: SYNCER_DATABASE_URL=postgresql://localhost/mirror syncer migrate
    """
    url = _database()
    applied = _run(migrate.migrate(url))
    out.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


def _queued(queued: list[tuple[str, int | None]]) -> None:
    for name, job_id in queued:
        if job_id is None:
            out.print(f"{name}: a run already waits in the queue", highlight=False)
        else:
            out.print(f"{name}: queued as job {job_id}", highlight=False)
    out.print(f"Workers run them ({_self_command()} worker); see them with {_self_command()} jobs")


def _self_command() -> str:
    """How the user ran syncer, to repeat it in hints: `.venv/bin/syncer`, `syncer`, ..."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "syncer":
        return "python -m syncer"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return "syncer"


@app.command("push")
def push_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", metavar="NAME", help="Only this connection; repeat."),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Queue one push job per connection for the workers instead."),
    ] = False,
) -> None:
    """Send the rows waiting in syncer.outbox to the vendors, in chunked upserts.

    A key's rows reach the vendor in outbox order. Every row ends accepted (with the vendor's
    id), rejected (with the vendor's message; retried by later pushes until it succeeds, is
    dropped, or a later accepted row of its key supersedes it) or invalid (never sent). An
    endpoint the vendor refuses as a whole (an unknown master) exits 6; its rows stay pending.

    Example: syncer push --config config/sandbox.toml --connection exto
    """
    cfg = _config(config)
    url = _database(cfg)
    _run(migrate.migrate(url))
    if queue:
        queued = _run(jobs.queue_pushes(url, cfg, connection or []))
        _queued([(f"{name} (push)", job_id) for name, job_id in queued])
        return
    log.summarised("push.failed")  # the summary's error column says it
    results = _run(push.push(cfg, url, only=connection or ()))
    show(
        out,
        "push summary",
        (
            Column("connection", head=True),
            *(
                Column(name, number=True)
                for name in ("accepted", "rejected", "invalid", "superseded", "requests", "seconds")
            ),
            Column("error", prose=True),
        ),
        [
            [
                r.connection,
                *(str(n) for n in (r.accepted, r.rejected, r.invalid, r.superseded, r.requests)),
                f"{r.seconds:.1f}",
                log.scrub(r.error or ""),
            ]
            for r in results
        ],
    )
    raise typer.Exit(int(errors.worst(r.exit_code for r in results)))


@app.command()
def plan(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Show what a push would send, per endpoint, sending nothing.

    Per desired-state table: the rows to create and to update (they differ from the mirror).
    Per endpoint: the rows waiting in syncer.outbox (their ids) as creates, updates (the
    mirror holds the key), deletes and invalid rows, with samples.

    Example: syncer plan --config config/sandbox.toml
    """
    cfg = _config(config)
    url = _database(cfg)

    async def compute() -> list[dict[str, Any]]:
        await migrate.migrate(url)
        return await push.plan(cfg, url)

    lines = _run(compute())
    if not lines:
        out.print("nothing to send: no outbox row waits and every desired-state table matches")
        return
    columns = (
        Column("connection", head=True),
        Column("source", head=True),
        Column("endpoint", head=True),
        *(Column(name, number=True) for name in ("create", "update", "delete", "invalid")),
        Column("queued", number=True),
        Column("retries", number=True),
        Column("outbox ids", prose=True),
        Column("samples", prose=True),
    )

    def count(line: dict[str, Any], name: str) -> str:
        value = line.get(name)
        return "" if value is None else str(value)

    show(
        out,
        "push plan (nothing sent)",
        columns,
        [
            [
                str(line["connection"]),
                str(line["source"]),
                str(line["endpoint"]),
                *(count(line, name) for name in ("create", "update", "delete", "invalid")),
                count(line, "rows"),
                str(line["retry"]),
                _id_ranges(line.get("ids") or []),
                "\n".join(str(s)[:120] for s in line["samples"]),
            ]
            for line in lines
        ],
    )


def _id_ranges(ids: list[int]) -> str:
    """`3-7, 12, 15-16`: the outbox ids of a plan line, as ranges (`syncer outbox drop` takes
    them one by one)."""
    spans: list[list[int]] = []
    for i in sorted(ids):
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


@outbox_app.command("drop")
def outbox_drop(
    ids: Annotated[list[int], typer.Argument(help="Outbox row ids (syncer plan lists them).")],
) -> None:
    """Give up on outbox rows (rejected, invalid or pending): later pushes skip them.

    Example: syncer outbox drop 17 18
    """
    url = _database()

    async def drop() -> tuple[list[int], dict[int, str | None]]:
        await migrate.migrate(url)
        async with Mirror.connect(url, max_size=2) as mirror:
            return await mirror.drop_outbox(ids)

    dropped, kept = _run(drop())
    out.print(
        f"dropped {len(dropped)} row(s)" + (f": {', '.join(map(str, dropped))}" if dropped else "")
    )
    if kept:
        reasons = []
        for row_id, state in sorted(kept.items()):
            if state is None:
                reasons.append(f"{row_id}: no such outbox row")
            elif state == "dropped":
                reasons.append(f"{row_id}: already dropped")
            else:
                reasons.append(f"{row_id}: {state}, and only pending, rejected or invalid rows go")
        raise fail("not dropped: " + "; ".join(reasons), errors.ExitCode.USAGE)


@app.command()
def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Probe each connection once, never retrying: the vendor's readiness endpoint, then one
    request with the token. Every missing token variable is named at once.

    Example: syncer check --config config/sandbox.toml
    """
    cfg = _config(config)

    async def probe(conn: settings.ConnectionConfig) -> tuple[str, str, errors.ExitCode]:
        connector = CONNECTORS[conn.vendor]
        token = conn.token().get_secret_value()
        log.register_secret(token)
        async with VendorClient(conn, connector, token) as client:
            ready = await client.readiness()
            readiness = {True: "ready", False: "NOT READY", None: "no probe"}[ready]
            spec = connector.stream(conn.streams[0], conn.options)
            try:
                await client.send(
                    spec.page(spec.params, spec.first(), 1),
                    what=f"token probe on {spec.name}",
                    once=True,
                )
            except errors.SyncerError as exc:
                return readiness, exc.message, exc.exit_code
        code = errors.ExitCode.TRANSIENT if ready is False else errors.ExitCode.OK
        return readiness, "token accepted", code

    async def probe_all() -> list[tuple[str, str, str, errors.ExitCode]]:
        rows = []
        for conn in cfg.connections:
            try:
                rows.append((conn.name, *await probe(conn)))
            except errors.SyncerError as exc:
                rows.append((conn.name, "not probed", exc.message, exc.exit_code))
        return rows

    missing = [c.token_env for c in cfg.connections if not os.environ.get(c.token_env, "").strip()]
    rows = _run(probe_all())
    show(
        out,
        "connection check",
        (
            Column("connection", head=True),
            Column("readiness", head=True),
            Column("probe", prose=True),
        ),
        [[name, ready, log.scrub(said)] for name, ready, said, _ in rows],
    )
    if missing:
        out.print(
            f"not set: {', '.join(missing)}; export each with its vendor's token, e.g. "
            f"export {missing[0]}=...",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(int(errors.worst(code for *_, code in rows)))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql(context: typer.Context) -> None:
    """Open psql on the mirror database (the embedded one unless SYNCER_DATABASE_URL is set);
    every further argument goes to psql.

    The password goes to psql in its environment (PGPASSWORD), never on its command line.

    Example: syncer psql -c 'select count(*) from mirror_view.exto__master_location'
    """
    try:
        argv, environment = db.psql_command(_database())
        argv += context.args
    except errors.SyncerError as exc:
        raise _fail(exc) from None
    try:
        os.execvpe(argv[0], argv, environment)
    except OSError as exc:
        missing = errors.ConfigError(
            f"cannot run {argv[0]}: {exc.strerror}; install the PostgreSQL client (psql) "
            "or put it on PATH"
        )
        raise _fail(missing) from None


@db_app.command("url")
def db_url() -> None:
    """Print the database URL syncer uses (starting the embedded server if needed), without
    its password: psql asks for it, or takes it from PGPASSWORD.

    Example: psql "$(syncer db url)"
    """
    out.print(db.display_url(_database()), highlight=False, markup=False, soft_wrap=True)


@db_app.command("init")
def db_init(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", envvar="SYNCER_CONFIG", help="A config whose `home` to use."
        ),
    ] = None,
) -> None:
    """Create the embedded Postgres (if it is not there yet) and its tables, and say where.

    Unattended runs (cron, systemd, workers) never create one themselves: run this once.

    Example: syncer db init --config config/sandbox.toml
    """
    cfg = _config(config) if config else None
    configured = cfg.home if cfg else None
    if settings.database_url() is not None:
        say("SYNCER_DATABASE_URL is set: syncer uses that server, not an embedded one")
        url = _database(cfg)
    else:
        existed = db.embedded_exists(configured)
        url = _run_db(lambda: db.resolve_url(configured))
        where = settings.home(configured) / "pgdata"
        out.print(f"embedded Postgres {'at' if existed else 'created at'} {where}", highlight=False)
    applied = _run(migrate.migrate(url))
    out.print(f"applied {len(applied)} migration(s)", highlight=False)


def _run_db(resolve: Callable[[], str]) -> str:
    try:
        return resolve()
    except errors.SyncerError as exc:
        raise _fail(exc) from None


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded Postgres server (the next command that needs it starts it again).

    Example: syncer db stop
    """
    chosen = _env_config()
    out.print("stopped" if db.stop_embedded(chosen.home if chosen else None) else "not running")


def main() -> None:
    """Console entry point: a usage mistake is reported like every other error (a JSON event
    off a terminal), exit 2."""
    try:
        code = app(standalone_mode=False)
    except click.ClickException as exc:
        if not log.configured():  # the mistake came before the options were read
            log.configure()
        if not log.is_json() or isinstance(exc, click.exceptions.NoArgsIsHelpError):
            exc.show()
            sys.exit(exc.exit_code)
        structlog.get_logger("syncer").error(
            "command.failed", error=log.scrub(exc.format_message()), exit_code=exc.exit_code
        )
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(INTERRUPTED)
    except errors.SyncerError as exc:  # pragma: no cover - commands map their own errors
        raise SystemExit(fail(exc.message, exc.exit_code).exit_code) from None
    structlog.reset_defaults()
    sys.exit(code if isinstance(code, int) else 0)


def _admin_commands() -> None:
    """`syncer state` and `syncer deletes` (syncer.cli_admin uses this module's helpers)."""
    from syncer import cli_admin

    app.add_typer(cli_admin.state_app, name="state")
    app.add_typer(cli_admin.deletes_app, name="deletes")


def _job_commands() -> None:
    """`syncer worker` and `syncer jobs` (syncer.cli_jobs uses this module's helpers)."""
    from syncer import cli_jobs

    app.command("worker")(cli_jobs.worker)
    app.command("backfill")(cli_jobs.backfill)
    app.add_typer(cli_jobs.jobs_app, name="jobs")


def _health_commands() -> None:
    """`syncer status` and `syncer health` (syncer.cli_health uses this module's helpers)."""
    from syncer import cli_health

    app.command("status")(cli_health.status)
    app.command("health")(cli_health.health_cmd)


def _sync_commands() -> None:
    """`syncer sync` (syncer.cli_sync)."""
    from syncer import cli_sync

    app.command("sync")(cli_sync.sync)


def _sandbox_command() -> None:
    """`syncer sandbox` (syncer.cli_sandbox)."""
    from syncer import cli_sandbox

    app.command("sandbox")(cli_sandbox.sandbox)


_sync_commands()
_admin_commands()
_job_commands()
_health_commands()
_sandbox_command()
