"""Which Postgres syncer uses: $SYNCER_DATABASE_URL, or an embedded server (pgserver).

The embedded server keeps its data under $SYNCER_HOME/pgdata (default ./.syncer/pgdata),
listens only on a Unix socket, and keeps running after syncer exits so that `syncer psql`
and later runs find it; `syncer db stop` stops it.

A URL's password never leaves this module in a form anyone else can see: it is a registered
secret (scrubbed from every log line and error), printed URLs leave it out, and psql gets it
in its environment (PGPASSWORD), never on its command line, which every local user can read.
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit, urlunsplit

from syncer import errors, log

DATABASE_URL_ENV = "SYNCER_DATABASE_URL"
HOME_ENV = "SYNCER_HOME"

#: query parameters of a Postgres URL that hold a secret (libpq's and asyncpg's names)
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def _pgdata(configured: Path | None = None) -> Path:
    return home(configured) / "pgdata"


def embedded_exists(configured: Path | None = None) -> bool:
    """True when the embedded Postgres's data folder has been made."""
    return (_pgdata(configured) / "PG_VERSION").exists()


def resolve_url(configured_home: Path | None = None, *, create: bool = True) -> str:
    """The database URL to use, starting the embedded server if none is configured.

    `configured_home` is the config's `home` (SYNCER_HOME overrides it). With `create=False`,
    an embedded server that does not exist yet is a ConfigError rather than a new, empty
    database: a cron job started in another folder must not sync into a mirror of its own.
    Its passwords become registered secrets, so no log line or error can show them."""
    url = database_url()
    if url:
        for secret in url_secrets(url):
            log.register_secret(secret)
        return url
    pgdata = _pgdata(configured_home)
    if not create and not embedded_exists(configured_home):
        raise errors.ConfigError(
            f"no embedded Postgres at {pgdata}, and syncer makes a new one only when run from a "
            f"terminal (an unattended run in another folder would fill a new, empty mirror): "
            f"set {DATABASE_URL_ENV}, or {HOME_ENV} (or `home` in the "
            "config) to the folder that holds it, or create it once with `syncer db init`"
        )
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); harmless here
            warnings.simplefilter("ignore")
            from pgserver import postgres_server

        server = postgres_server.get_server(pgdata, cleanup_mode=None)
        return str(server.get_uri())
    except (OSError, subprocess.SubprocessError) as exc:
        raise errors.MirrorError(
            f"cannot start the embedded Postgres under {pgdata}: {exc}; "
            f"or set {DATABASE_URL_ENV} to use another server"
        ) from exc


def split_password(url: str) -> tuple[str, str | None]:
    """(`url` without any password, the password a client connects with).

    Removes the password of `user:password@` and every `password=` / `sslpassword=` query
    parameter, whatever its case, repetition or percent-encoding. The password returned is the
    one asyncpg uses: the one after `user:` (up to the first @), else the last `password=`."""
    parts = urlsplit(url)
    netloc, password = parts.netloc, None
    if "@" in netloc:
        password = unquote(netloc.partition("@")[0].partition(":")[2]) or None
        # everything before the last @ is user information: an unencoded @ in a password
        # must not leave a piece of it in the host part
        userinfo, _, hosts = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hosts}" if user else hosts
    kept, from_query = [], None
    for field in filter(None, parts.query.split("&")):
        key, _, value = field.partition("=")
        name = unquote_plus(key)
        if name.strip().lower() in _SECRET_PARAMS:
            if name == "password" and value:
                from_query = unquote_plus(value)
            continue
        kept.append(field)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(kept))), password or from_query


def url_secrets(url: str) -> list[str]:
    """Every secret a database URL holds, as written and decoded."""
    parts = urlsplit(url)
    found = []
    userinfo = parts.netloc.rpartition("@")[0]
    for candidate in (userinfo.partition(":")[2], parts.netloc.partition("@")[0].partition(":")[2]):
        if candidate:
            found += [candidate, unquote(candidate)]
    for field in filter(None, parts.query.split("&")):
        key, _, value = field.partition("=")
        if unquote_plus(key).strip().lower() in _SECRET_PARAMS and value:
            found += [value, unquote_plus(value), quote(unquote_plus(value), safe="")]
    return [s for s in dict.fromkeys(found) if s]


def display_url(url: str) -> str:
    """`url` for printing: without any password (psql asks for it, or reads PGPASSWORD)."""
    return split_password(url)[0]


def psql_command(url: str) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that open psql on the database at `url`.

    The password goes in the environment (PGPASSWORD), readable only by this user; psql's
    argv, which `ps` shows to everyone, holds the URL without it."""
    bare, password = split_password(url)
    if any(
        unquote_plus(field.partition("=")[0]).strip().lower() == "sslpassword"
        for field in urlsplit(url).query.split("&")
    ):
        # libpq has no environment variable for it: it could only go on the command line
        raise errors.ConfigError(
            f"{DATABASE_URL_ENV} has an sslpassword, which psql could only take on "
            "its command line (visible to every local user); decrypt the key or run psql "
            "yourself with a service file"
        )
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    if database_url():
        return ["psql", bare], env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from pgserver._commands import POSTGRES_BIN_PATH

    return [str(POSTGRES_BIN_PATH / "psql"), bare], env


def stop_embedded(configured_home: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True if it was running."""
    pgdata = _pgdata(configured_home)
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
    return os.geteuid() == 0


def database_url() -> str | None:
    """The server named by SYNCER_DATABASE_URL, or None for the embedded one.

    A value that is not a Postgres URL is a ConfigError naming the variable (the message never
    repeats the value: it may hold a password)."""
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not value:
        return None
    problem = _url_problem(value)
    if problem:
        raise errors.ConfigError(
            f"{DATABASE_URL_ENV} is not a valid Postgres URL ({problem}); use "
            f"postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return value


def _url_problem(url: str) -> str | None:
    """What is wrong with a database URL as asyncpg and libpq read it, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "it cannot be parsed as a URL"
    if parts.scheme not in ("postgresql", "postgres"):
        return "it must start with postgresql://"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        return "its ?query is malformed"
    ports = [value for key, value in query if key == "port"]
    # userinfo ends at the first @ for asyncpg; the host list is what follows
    hostlist = parts.netloc.partition("@")[2] if "@" in parts.netloc else parts.netloc
    for spec in filter(None, hostlist.split(",")):
        if spec.startswith("["):
            match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(.*))?", spec)
            if match is None:
                return "an IPv6 host must be written [address] or [address]:port"
            port = match.group(2)
        else:
            port = spec.partition(":")[2] if ":" in spec else None
        if port:
            ports.append(unquote(port))
    for port in filter(None, ports):
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"port {port[:20]!r} is not a number from 1 to 65535"
    return None


def home(configured: Path | None = None) -> Path:
    """Where syncer keeps local state (the embedded Postgres): $SYNCER_HOME, else the config's
    `home`, else ./.syncer in the working directory."""
    chosen = os.environ.get(HOME_ENV, "").strip()
    if chosen:
        return Path(chosen).resolve()
    if configured is not None:
        return configured.resolve()
    return Path(".syncer").resolve()
