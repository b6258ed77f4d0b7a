"""Every command of `syncer` put on `app` (syncer/cli/app.py), and `main`, which runs it. Each
command module parses its options, calls one function of syncer and prints its report
(syncer/report.py); app.py holds what they share. The top-level commands are put on the app
here, in the order `syncer --help` lists them; a group (`db`, `outbox`, `state`, `deletes`,
`jobs`) carries its own subcommands in its module.
"""

from __future__ import annotations

import sys

import structlog
import typer
from typer import _click as click

from syncer import errors, log
from syncer.cli import admin, check, health, jobs, push, sandbox, setup, sync
from syncer.cli.app import INTERRUPTED, app, fail

app.command("sandbox")(sandbox.sandbox)
app.command("check")(check.check)
app.command("sync")(sync.sync)
app.command("status")(health.status)
app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    setup.psql
)
app.command("backfill")(jobs.backfill)
app.add_typer(admin.state_app, name="state")
app.add_typer(admin.deletes_app, name="deletes")
app.command("health")(health.health_cmd)
app.command("plan")(push.plan)
app.command("push")(push.push_cmd)
app.add_typer(push.outbox_app, name="outbox")
app.command("worker")(jobs.worker)
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(setup.db_app, name="db")
app.command("migrate")(setup.migrate_cmd)
app.command("grant-analyst")(setup.grant_analyst)

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line: a usage mistake is reported like every other error (a JSON event
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
