"""Which Postgres syncer uses: $SYNCER_DATABASE_URL, or an embedded server (pgserver).

The embedded server keeps its data under $SYNCER_HOME/pgdata (default ./.syncer/pgdata),
listens only on a Unix socket, and keeps running after syncer exits so that `syncer psql`
and later runs find it; `syncer db stop` stops it.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

from syncer import errors, settings


def _pgdata() -> Path:
    home = settings.home()
    home.mkdir(parents=True, exist_ok=True)
    return home / "pgdata"


def resolve_url() -> str:
    """The database URL to use, starting the embedded server if none is configured."""
    url = settings.database_url()
    if url:
        return url
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); harmless here
            warnings.simplefilter("ignore")
            from pgserver import postgres_server

        server = postgres_server.get_server(_pgdata(), cleanup_mode=None)
        return str(server.get_uri())
    except (OSError, subprocess.SubprocessError) as exc:
        raise errors.MirrorError(
            f"cannot start the embedded Postgres under {_pgdata()}: {exc}; "
            f"or set {settings.DATABASE_URL_ENV} to use another server"
        ) from exc


def psql_command() -> list[str]:
    """argv that opens psql on the mirror database."""
    url = resolve_url()
    if settings.database_url():
        return ["psql", url]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from pgserver._commands import POSTGRES_BIN_PATH

    return [str(POSTGRES_BIN_PATH / "psql"), url]


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True if it was running."""
    pgdata = _pgdata()
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    try:
        pg_ctl(["-w", "stop"], pgdata=pgdata, user="pgserver" if _is_root() else None)
    except subprocess.CalledProcessError:
        return False
    return True


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def display_url(url: str) -> str:
    """`url` with any password replaced by ***, for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    return urlunsplit(parts)
