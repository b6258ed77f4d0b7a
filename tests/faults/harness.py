"""What every fault experiment shares: a sandbox served in this process, syncer run as a real
subprocess (so it can be killed), a fresh database per trial, and the final comparison of the
mirror with the sandbox: same key set, same hash per key, no duplicates, nothing wrongly
deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

from syncer import migrate
from syncer.sandbox.exto import create_app
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox
from tests.integration.mirror_check import expected

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sandbox-token"
TOKEN_ENV = "SYNCER_FAULTS_TOKEN"
TABLE = "exto__master_location"
STREAM = "master:LOCATION"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@dataclass
class Outcome:
    """One trial's end state, compared with the sandbox."""

    lost: int = 0  # the vendor holds it; the mirror has no row for it
    stale: int = 0  # the mirror's row differs from the vendor's record
    duplicated: int = 0  # a key held twice (rows, or vendor-side records for pushes)
    wrongly_deleted: int = 0  # the vendor holds it; the mirror marked it deleted
    extra: int = 0  # the mirror shows it live; the vendor no longer holds it
    endless: int = 0  # a pass that never ended (a run stopped by the trial's time limit)
    stalled: int = 0  # a stream that later runs could not move past a point
    problems: list[str] = field(default_factory=list)  # anything else that went wrong

    @property
    def passed(self) -> bool:
        bad = self.lost + self.stale + self.duplicated + self.wrongly_deleted + self.extra
        return bad + self.endless + self.stalled == 0 and not self.problems


@dataclass
class Experiment:
    """The tally of one experiment over its trials (a row of docs/reliability.md)."""

    number: int
    name: str
    trials: int = 0
    passed: int = 0
    lost: int = 0
    duplicated: int = 0
    wrongly_deleted: int = 0
    endless: int = 0
    stalled: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.trials += 1
        self.passed += outcome.passed
        self.lost += outcome.lost + outcome.stale
        self.duplicated += outcome.duplicated
        self.wrongly_deleted += outcome.wrongly_deleted
        self.endless += outcome.endless
        self.stalled += outcome.stalled
        for problem in outcome.problems:
            if len(self.notes) < 5:
                self.notes.append(f"trial {self.trials}: {problem}")


Profile = Literal["full", "fast"]


@dataclass(frozen=True)
class Spec:
    number: int
    name: str
    #: profile -> (trials, records)
    sizes: dict[str, tuple[int, int]]
    body: Callable[[Lab, Experiment, int, int, int], Awaitable[None]]

    async def run(
        self,
        lab: Lab,
        profile: Profile,
        seed: int,
        trials: int | None = None,
        records: int | None = None,
    ) -> Experiment:
        """Run with the profile's trials and records, or those given."""
        trials = trials or self.sizes[profile][0]
        records = records or self.sizes[profile][1]
        tally = Experiment(self.number, self.name)
        lab.profile = profile
        started = time.monotonic()
        await self.body(lab, tally, trials, records, seed)
        tally.seconds = time.monotonic() - started
        return tally


class Lab:
    """One experiment's machinery: the admin database URL and a work directory."""

    def __init__(self, admin_url: str, workdir: Path) -> None:
        self.admin_url = admin_url
        self.workdir = workdir
        #: the profile the experiment runs at: a fast trial may skip a wait that costs only time
        self.profile: Profile = "full"
        self._runners: list[web.AppRunner] = []
        self._databases: list[str] = []
        #: a database migrated once, that each trial's database is a copy of
        self._template: str | None = None
        self._template_lock = asyncio.Lock()

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        await self.drop_databases()
        if self._template is not None:
            await self._drop(self._template)

    async def _drop(self, *names: str) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def drop_databases(self) -> None:
        """Drop the databases made so far (large trials free their disk as they go)."""
        await self._drop(*self._databases)
        self._databases.clear()

    async def database(self) -> str:
        """A fresh, migrated database, dropped when the lab closes: a copy of a template
        migrated once per lab (migrating each trial's database cost more than its trial's
        setup)."""
        template = await self._migrated_template()
        name = f"syncer_fault_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await admin.close()
        self._databases.append(name)
        return with_database(self.admin_url, name)

    async def _migrated_template(self) -> str:
        async with self._template_lock:
            if self._template is None:
                name = f"syncer_fault_tpl_{uuid.uuid4().hex[:10]}"
                admin = await asyncpg.connect(self.admin_url)
                try:
                    await admin.execute(f'CREATE DATABASE "{name}"')
                finally:
                    await admin.close()
                self._template = name
                await migrate.migrate(with_database(self.admin_url, name))
            return self._template

    async def sandbox(
        self, tls: ssl.SSLContext | None = None, **knobs: Any
    ) -> tuple[str, ExtoSandbox]:
        """An Exto sandbox served on 127.0.0.1 by this process (over HTTPS with `tls`):
        (base URL, its state)."""
        knobs.setdefault("module_records", 10)
        knobs.setdefault("users", 5)
        knobs.setdefault("projects", 2)
        knobs.setdefault("rate_limit", 0)
        app = create_app(ExtoConfig(**knobs))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{port}/data", app[EXTO_KEY]

    def config(self, base_url: str, **settings: Any) -> Path:
        """A TOML config with one Exto connection; `settings` go on the connection."""
        lines = [
            "[[connections]]",
            'name = "exto"',
            'vendor = "exto"',
            f'base_url = "{base_url}"',
            f'token_env = "{TOKEN_ENV}"',
            f'streams = ["{STREAM}"]',
        ]
        settings.setdefault("rate_limit", 1000)
        for key, value in settings.items():
            lines.append(f"{key} = {_toml(value)}")
        path = self.workdir / f"syncer-{uuid.uuid4().hex[:8]}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


class Cluster:
    """A Postgres server of the experiment's own (pgserver's binaries, a throwaway data
    directory), so it can be crashed and restarted without touching anyone else's."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
            from pgserver import postgres_server

        self.root = Path(tempfile.mkdtemp(prefix="syncer-faults-pg-"))
        self.root.chmod(0o777)  # pgserver runs the server as user "pgserver" under root
        self.pgdata = self.root / "pgdata"
        self.server = postgres_server.get_server(self.pgdata, cleanup_mode=None)
        self.url = str(self.server.get_uri())

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def crash(self) -> None:
        """Stop in immediate mode: every backend dies at once, no checkpoint (a crash)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Start again with the options it last ran with (crash recovery runs first)."""
        self._pg_ctl("-w", "-l", str(self.pgdata / "log"), "restart")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@asynccontextmanager
async def lab(admin_url: str, workdir: Path) -> AsyncIterator[Lab]:
    os.makedirs(workdir, exist_ok=True)
    it = Lab(admin_url, workdir)
    try:
        yield it
    finally:
        await it.close()


def syncer_env(db_url: str, token: str = TOKEN, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_KILL")}
    return {**env, "SYNCER_DATABASE_URL": db_url, TOKEN_ENV: token, **extra}


async def spawn(*args: str, env: dict[str, str], quiet: bool = False) -> asyncio.subprocess.Process:
    """`python -m syncer ARGS`, its output kept (read it with communicate()) or discarded."""
    sink = asyncio.subprocess.DEVNULL if quiet else asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncer", *args, env=env, cwd=ROOT, stdout=sink, stderr=sink
    )


@dataclass
class Finished:
    code: int
    out: str
    err: str
    seconds: float


async def run(*args: str, env: dict[str, str], limit_s: float = 600) -> Finished:
    started = time.monotonic()
    proc = await spawn(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=limit_s)
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


class Expected:
    """The vendor's key -> hash, computed once per (unchanging) sandbox."""

    def __init__(self, sb: ExtoSandbox) -> None:
        self.sb = sb
        self.hashes = expected(sb.records("master", "LOCATION"), STREAM)

    @staticmethod
    def of(records: list[dict[str, Any]]) -> dict[str, bytes]:
        """key -> hash of `records`, computed as syncer computes it."""
        return expected(records, STREAM)


async def compare(db_url: str, want: dict[str, bytes], table: str = TABLE) -> Outcome:
    """The mirror against `want` (key -> content hash)."""
    conn = await asyncpg.connect(db_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass($1)", f'mirror."{table}"')
        if exists is None:
            return Outcome(lost=len(want), problems=["the mirror table does not exist"])
        rows = await conn.fetch(f'SELECT _pk, _hash, _deleted_at FROM mirror."{table}"')
        dupes = await conn.fetchval(f'SELECT count(*) - count(DISTINCT _pk) FROM mirror."{table}"')
    finally:
        await conn.close()
    live = {r["_pk"]: bytes(r["_hash"]) for r in rows if r["_deleted_at"] is None}
    deleted = {r["_pk"] for r in rows if r["_deleted_at"] is not None}
    out = Outcome(duplicated=int(dupes))
    for key, digest in want.items():
        if key in live:
            out.stale += live[key] != digest
        elif key in deleted:
            out.wrongly_deleted += 1
        else:
            out.lost += 1
    out.extra = len(live.keys() - want.keys())
    return out
