"""Setting up: the database (`db url/init/stop`, `migrate`), psql on it, the analysts' role."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from syncer import db, errors, log, migrate, roles
from syncer.cli.app import (
    database,
    env_config,
    fail,
    fail_with,
    group,
    load,
    run,
)
from syncer.report import out, say

db_app = group(
    "The embedded Postgres (used when SYNCER_DATABASE_URL is unset).\n\n"
    "Example: syncer db init --config config/sandbox.toml"
)


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
    url = database()
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise fail(f"${password_env} is not set", errors.ExitCode.AUTH_OR_CONFIG)
        log.register_secret(password)

    async def go() -> bool:
        await migrate.migrate(url)
        return await roles.grant_analyst(url, role, password)

    created = run(go())
    out.print(f"{'created' if created else 'updated'} read-only role {role}")


def migrate_cmd() -> None:
    """Apply pending migrations to the mirror database.

    Example: SYNCER_DATABASE_URL=postgresql://localhost/mirror syncer migrate
    """
    url = database()
    applied = run(migrate.migrate(url))
    out.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


def psql(context: typer.Context) -> None:
    """Open psql on the mirror database (the embedded one unless SYNCER_DATABASE_URL is set);
    every further argument goes to psql.

    The password goes to psql in its environment (PGPASSWORD), never on its command line.

    Example: syncer psql -c 'select count(*) from mirror_view.exto__master_location'
    """
    try:
        argv, environment = db.psql_command(database())
        argv += context.args
    except errors.SyncerError as exc:
        raise fail_with(exc) from None
    try:
        os.execvpe(argv[0], argv, environment)
    except OSError as exc:
        missing = errors.ConfigError(
            f"cannot run {argv[0]}: {exc.strerror}; install the PostgreSQL client (psql) "
            "or put it on PATH"
        )
        raise fail_with(missing) from None


@db_app.command("url")
def db_url() -> None:
    """Print the database URL syncer uses (starting the embedded server if needed), without
    its password: psql asks for it, or takes it from PGPASSWORD.

    Example: psql "$(syncer db url)"
    """
    out.print(db.display_url(database()), highlight=False, markup=False, soft_wrap=True)


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
    cfg = load(config) if config else None
    configured = cfg.home if cfg else None
    if db.database_url() is not None:
        say("SYNCER_DATABASE_URL is set: syncer uses that server, not an embedded one")
        url = database(cfg)
    else:
        existed = db.embedded_exists(configured)
        url = _run_db(lambda: db.resolve_url(configured))
        where = db.home(configured) / "pgdata"
        out.print(f"embedded Postgres {'at' if existed else 'created at'} {where}", highlight=False)
    applied = run(migrate.migrate(url))
    out.print(f"applied {len(applied)} migration(s)", highlight=False)


def _run_db(resolve: Callable[[], str]) -> str:
    try:
        return resolve()
    except errors.SyncerError as exc:
        raise fail_with(exc) from None


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded Postgres server (the next command that needs it starts it again).

    Example: syncer db stop
    """
    chosen = env_config()
    out.print("stopped" if db.stop_embedded(chosen.home if chosen else None) else "not running")
