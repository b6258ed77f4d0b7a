"""The mirror's base: the pool and its session settings, driver errors translated once (into
MirrorError or ConfigError), advisory locks and their fencing tokens, stream registration, and
literals quoted by the server for the SQL builders of views.py and outbox.py.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from syncer import errors, names
from syncer.db import url_secrets
from syncer.log import register_secret
from syncer.sql import for_table, queries

#: engine columns of every mirror table (also reserved in the typed views)
ENGINE_COLUMNS = ("_pk", "_hash", "_source_updated_at", "_synced_at", "_deleted_at", "_run_id")

#: settings of every session syncer opens, whatever the role or database say. search_path:
#: nothing in `public` (or any schema a role may create in) is ever resolved, so a function
#: planted there cannot run as syncer; pg_temp last, for the session's own stage table only.
#: standard_conforming_strings: a backslash in a literal is a backslash.
SESSION_SETTINGS = {"search_path": "pg_catalog, pg_temp", "standard_conforming_strings": "on"}

#: turns a raw string into the text of an SQL literal (made by the server: `quote_literal`)
Quote = Callable[[str], str]


@dataclass(frozen=True)
class StreamRef:
    """A stream's identity in the database."""

    stream_id: int
    connection: str
    stream: str
    table: str


@dataclass(frozen=True)
class Fence:
    """The fencing token of a lock's holder: checked, row-locked, in every write transaction
    of the holder, so a holder whose lock vanished (its session died) and was taken by another
    process cannot commit again."""

    name: str
    token: int


@contextlib.contextmanager
def translate_errors(action: str) -> Any:
    """Translate driver errors once, naming what syncer was doing."""
    try:
        yield
    # InternalClientError: asyncpg's own state broke with the connection (seen releasing a
    # connection whose backend was terminated mid-merge: fault experiment 4)
    except asyncpg.ClientConfigurationError as exc:
        raise errors.ConfigError(
            f"the database URL is not usable ({exc}); check SYNCER_DATABASE_URL"
        ) from None
    except REFUSALS as exc:
        raise refused(exc) from None
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    ) as exc:
        raise errors.MirrorError(
            f"Postgres failed while {action}: {type(exc).__name__}: {exc}"
        ) from exc


#: the server answered, and said the URL names no database or role it will let in: a
#: configuration mistake, not weather (exit 6 at once, never retried)
REFUSALS = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
)


def refused(exc: Exception) -> errors.ConfigError:
    """The ConfigError for a server that refused syncer's database URL, saying what to fix."""
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        advice = "create it (createdb), or point SYNCER_DATABASE_URL at the mirror's database"
    else:
        advice = "check the user and password in SYNCER_DATABASE_URL (and pg_hba.conf)"
    return errors.ConfigError(f"Postgres refused the connection: {exc}; {advice}")


async def check_fence(conn: PoolConnectionProxy[asyncpg.Record], fence: Fence) -> None:
    """Raise LockLost unless `fence` is still the lock's token; inside a transaction, the
    token's row stays locked until it ends, so no new holder can take over before then."""
    token = await conn.fetchval(queries["check_fence"], fence.name)
    if token != fence.token:
        raise lost(fence)


def lost(fence: Fence) -> errors.LockLost:
    what = fence.name.removeprefix("syncer.")
    return errors.LockLost(
        f"another process took over {what} (this run's lock session ended, e.g. "
        "idle_session_timeout or a terminated backend); this run stopped before its next "
        "commit: rerun to resume"
    )


def table_name(connection: str, stream: str) -> str:
    """The mirror table for a stream: `<connection>__<stream>`, normalised and bounded."""
    return names.identifier(f"{connection}__{stream}")


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute(queries["create_stage"])


async def connect_one(url: str) -> asyncpg.Connection:
    """One session with syncer's SESSION_SETTINGS (for migrations and roles)."""
    secret_parts(url)
    return await asyncpg.connect(url, server_settings=SESSION_SETTINGS)


def secret_parts(url: str) -> None:
    """The URL's passwords are secrets from here on, however syncer was started (the CLI
    registers them when it resolves the URL; a library caller may not have)."""
    for secret in url_secrets(url):
        register_secret(secret)


async def quote_literals(
    conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], values: Iterable[str]
) -> dict[str, str]:
    """raw string -> its SQL literal, made by the server in one round trip (`quote_literal`
    writes E'...' where a backslash needs it, so the text is right under any setting of
    standard_conforming_strings)."""
    unique = list(dict.fromkeys(values))
    if not unique:
        return {}
    quoted = await conn.fetchval(queries["quote_literals"], unique)
    return dict(zip(unique, quoted, strict=True))


async def server_quoted(
    conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], build: Callable[[Quote], str]
) -> str:
    """The SQL text `build(quote)` makes, every literal in it quoted by the server: `build`
    runs once to learn its literals, and again with them."""
    wanted: list[str] = []
    build(collector(wanted))
    quoted = await quote_literals(conn, wanted)
    return build(quoted.__getitem__)


def collector(wanted: list[str]) -> Quote:
    """A Quote that only notes the values it is given (their literals are asked for next)."""

    def collect(value: str) -> str:
        wanted.append(value)
        return "NULL"

    return collect


class Database:
    """The pool, its locks and fences, and the registered streams; the store, the views and
    the outbox (syncer.mirror) share one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- streams and locks -------------------------------------------------------------------

    async def ensure_stream(self, connection: str, stream: str) -> StreamRef:
        """Register the stream (once) and create its mirror table if needed; any number of
        processes at once (a sync and a push's read-back of one stream, say)."""
        with translate_errors(f"registering stream {connection}/{stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(queries["lock_stream_registry"])
                row = await conn.fetchrow(queries["get_stream"], connection, stream)
                if row is None:
                    table = table_name(connection, stream)
                    if await conn.fetchval(queries["table_name_taken"], table):
                        digest = hashlib.blake2b(stream.encode(), digest_size=4).hexdigest()
                        table = names.identifier(f"{connection}__{stream}__{digest}")
                    await conn.execute(queries["insert_stream"], connection, stream, table)
                    row = await conn.fetchrow(queries["get_stream"], connection, stream)
                    assert row is not None
                ref = StreamRef(row["stream_id"], connection, stream, row["table_name"])
                await conn.execute(for_table("create_mirror_table", ref.table))
                await conn.execute(queries["ensure_state"], ref.stream_id)
                return ref

    async def drop_empty_table(self, ref: StreamRef) -> None:
        """Drop the stream's mirror table if it holds no row (the vendor has no such stream:
        a failed first run leaves nothing behind for analysts to find)."""
        with translate_errors(f"dropping the empty table of {ref.connection}/{ref.stream}"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(for_table("drop_empty_mirror_table", ref.table))

    def stream_lock(
        self, connection: str, stream: str
    ) -> contextlib.AbstractAsyncContextManager[Fence]:
        """Hold the stream's advisory lock for the block (its fence as the value); raise
        AlreadyRunning if taken."""
        return self.lock(
            f"syncer.stream:{connection}/{stream}",
            f"stream {connection}/{stream} is already being synced by another process",
        )

    async def find_stream(self, connection: str, stream: str) -> StreamRef | None:
        """The stream if syncer has registered it (registers nothing: a push must not create a
        mirror table for an endpoint that may not exist)."""
        with translate_errors(f"reading stream {connection}/{stream}"):
            row = await self.pool.fetchrow(queries["get_stream"], connection, stream)
        if row is None:
            return None
        return StreamRef(row["stream_id"], connection, stream, row["table_name"])

    @contextlib.asynccontextmanager
    async def lock(self, name: str, busy: str = "") -> AsyncIterator[Fence]:
        """Hold the advisory lock `name` for the block; raise AlreadyRunning (`busy`) if taken.

        The block gets the lock's next fencing token: the advisory lock lives in one pooled
        session, which nothing watches while the block works; if that session dies the lock
        is gone, and the token is what stops this holder once another one has taken it.
        """
        with translate_errors("taking a lock"):
            conn = await self.pool.acquire()
        try:
            with translate_errors("taking a lock"):
                got = await conn.fetchval(queries["try_lock"], name)
            if not got:
                raise errors.AlreadyRunning(busy or f"{name} is held by another process")
            try:
                with translate_errors("taking a lock"):
                    token: int = await conn.fetchval(queries["take_fence"], name)
                yield Fence(name, token)
            finally:
                with contextlib.suppress(Exception):
                    await conn.fetchval(queries["unlock"], name)
        finally:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    @contextlib.asynccontextmanager
    async def fenced(
        self, fence: Fence | None
    ) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A connection in a transaction that commits only while `fence` is still current
        (LockLost otherwise); without a fence, a plain transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await check_fence(conn, fence)
            yield conn


class Part:
    """A concern of the mirror (store, views, outbox) working on the Database it shares."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pool = db.pool

    def fenced(
        self, fence: Fence | None
    ) -> contextlib.AbstractAsyncContextManager[PoolConnectionProxy[asyncpg.Record]]:
        """Database.fenced."""
        return self.db.fenced(fence)
