"""Every fenced example in README.md and docs/**/*.md runs as written against the sandbox.

The convention, for whoever writes the docs:

- A block's language says what it is. ```sh runs in bash (`set -e -o pipefail`, stdin empty, so
  `syncer psql` connects and exits) from a folder holding `config/sandbox.toml` and `.venv`, with
  the venv's `syncer` on PATH, SYNCER_DATABASE_URL set and the sandbox's tokens exported; ```sql
  runs in the mirror database; ```python runs in a fresh interpreter (top-level `await` allowed);
  ```toml is loaded as a config and must validate: a block with `[[connections]]` is a whole file,
  any other block is a fragment merged into one connection of `config/sandbox.toml` (exto, unless
  marked). ```json must parse. Untagged, ```text and ```ini blocks are displays, never run; any
  other language fails the test until it is given a treatment here.
- Every example runs after one shared setup: `syncer sandbox` (a small dataset, `--no-limits`,
  default seed and module records, so the sandbox's ids in the docs exist) and `syncer sync
  --config config/sandbox.toml` into a fresh database; blocks run in document order, files in
  name order, so a block sees what the blocks before it did. Port 8765, wherever it is written,
  stands for the shared sandbox's port.
- A ```sql block that adds `syncer.outbox` rows is followed by `syncer push --config
  config/sandbox.toml`, and each of its rows must end `accepted`.
- An HTML comment on the line just above a fence changes its treatment:
  `<!-- example: not run (why) -->` skips it, and the test reports it with the reason (a
  skipped ```sh block is still checked dry: each `syncer` and `python -m` command's options must
  be in its `--help`, each `make` target must exist);
  `<!-- example: serves until stopped -->` starts it, waits until it listens on the port written
  in it (8765 there stands for a free port of its own), and stops it;
  `<!-- example: in connection NAME -->` merges a TOML fragment into connection NAME;
  `<!-- example: as analyst -->` runs a ```sql block as the analyst role: the shared setup runs
  `syncer grant-analyst` for a role of its own (a unique name, dropped at the end), and the
  block runs under `SET ROLE` that role, so it reads what an analyst may read and nothing else
  (schema syncer is closed to it). Every ```sql block of docs/analysts.md carries it.

A failure names the file and line of the example (and of the failing command, for ```sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncer.settings import CONFIG_DIR, Config, load_config
from tests.conftest import ROOT, with_database

pytestmark = pytest.mark.acceptance

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DOC_PORT = "8765"
#: the tokens `make run` exports (scripts/run-sandbox-sync)
TOKENS = {
    "SYNCER_EXTO_TOKEN": "sandbox-token",
    "SYNCER_ACTITO_KEY": "sandbox-actito-key",
    "SYNCER_XTRAKIT_KEY": "sandbox-xtrakit-key",
    "SYNCER_IOTO_TOKEN": "sandbox-ioto-token",
}
RUN = {"sh", "sql", "python", "toml", "json"}
DISPLAY = {"", "text", "ini"}
MARKER = re.compile(r"<!--\s*example:\s*(.*?)\s*-->")
BLOCK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Example:
    """One fenced block: where it starts (the fence's line), its language, text and marker."""

    path: str
    line: int
    lang: str
    text: str
    marker: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def extract(path: Path) -> list[Example]:
    """The fenced blocks of a markdown file, each with the `<!-- example: ... -->` above it."""
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    n = 0
    while n < len(lines):
        fence = re.match(r"^(`{3,})\s*([\w+-]*)", lines[n])
        if not fence:
            n += 1
            continue
        start, close = n, fence.group(1)
        n += 1
        body: list[str] = []
        while n < len(lines) and not lines[n].startswith(close):
            body.append(lines[n])
            n += 1
        above = next((line for line in reversed(lines[:start]) if line.strip()), "")
        marker = MARKER.search(above)
        text = "\n".join(body) + "\n"
        found.append(
            Example(rel, start + 1, fence.group(2), text, marker.group(1) if marker else "")
        )
        n += 1
    return found


EXAMPLES = [example for path in DOCS for example in extract(path)]


@dataclass
class DocEnv:
    """The shared setup: a work folder, the environment commands get, the mirror database."""

    workdir: Path
    env: dict[str, str]
    db_url: str
    port: int
    #: the read-only role `syncer grant-analyst` made (`<!-- example: as analyst -->` blocks)
    analyst: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(
    argv: list[str], env: DocEnv, *, stdin: int = asyncio.subprocess.DEVNULL
) -> tuple[int, str]:
    """Run a command in the work folder; its exit code and its output (stdout then stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=env.workdir,
        env=env.env,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BLOCK_TIMEOUT_S)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return -1, f"timed out after {BLOCK_TIMEOUT_S} s"
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace") + err.decode(errors="replace")


async def wait_ready(port: int, proc: asyncio.subprocess.Process, limit_s: float) -> bool:
    for _ in range(int(limit_s / 0.1)):
        if proc.returncode is not None:
            return False
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.fixture(scope="module")
async def doc_env(
    pg_admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DocEnv]:
    """One sandbox, one database synced from it with `config/sandbox.toml`, for every example."""
    name = f"syncer_docs_{uuid.uuid4().hex[:10]}"
    analyst = f"analyst_docs_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    port = free_port()
    workdir = tmp_path_factory.mktemp("docs")
    (workdir / "config").mkdir()
    config = (ROOT / "config" / "sandbox.toml").read_text().replace(DOC_PORT, str(port))
    (workdir / "config" / "sandbox.toml").write_text(config)
    (workdir / ".venv").symlink_to(Path(sys.executable).parents[1])
    (workdir / "tests").symlink_to(ROOT / "tests")  # `python -m tests.faults.run`
    environ = {
        **os.environ,
        **TOKENS,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SYNCER_DATABASE_URL": with_database(pg_admin_url, name),
        "COLUMNS": "200",
    }
    env = DocEnv(workdir, environ, environ["SYNCER_DATABASE_URL"], port, analyst)
    sandbox = await asyncio.create_subprocess_exec(
        *("syncer", "sandbox", "--port", str(port), "--no-limits"),
        *("--records", "200", "--other-records", "200"),
        cwd=workdir,
        env=environ,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert await wait_ready(port, sandbox, 60), "the sandbox did not start"
        code, out = await run(["syncer", "sync", "--config", "config/sandbox.toml"], env)
        assert code == 0, out
        code, out = await run(["syncer", "grant-analyst", analyst], env)
        assert code == 0, out
        yield env
    finally:
        sandbox.terminate()
        await sandbox.wait()
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            # its rights were in the database just dropped: nothing else holds the role
            await admin.execute(f'DROP ROLE IF EXISTS "{analyst}"')
        finally:
            await admin.close()


@dataclass(frozen=True)
class Treatment:
    skip: str | None = None
    serves: bool = False
    connection: str = "exto"
    analyst: bool = False


def treatment(example: Example) -> Treatment:
    """What the marker above a block asks for; an unknown marker is the doc's mistake."""
    marker = example.marker
    if not marker:
        return Treatment()
    if m := re.fullmatch(r"not run \((.+)\)", marker):
        return Treatment(skip=m.group(1))
    if marker == "serves until stopped":
        return Treatment(serves=True)
    if m := re.fullmatch(r"in connection (\w+)", marker):
        return Treatment(connection=m.group(1))
    if marker == "as analyst":
        return Treatment(analyst=True)
    raise AssertionError(f"{example.where}: unknown marker <!-- example: {marker} -->")


async def run_sh(example: Example, env: DocEnv, port: int) -> None:
    # the prelude and blank lines put each command on its markdown line number ($LINENO)
    prelude = "set -eo pipefail; trap 'echo \"failed at line $LINENO (exit $?)\" >&2' ERR"
    script = prelude + "\n" * example.line + example.text.replace(DOC_PORT, str(port))
    code, out = await run(["bash", "-c", script], env)
    if code != 0:
        line = re.search(r"failed at line (\d+)", out)
        where = f"{example.path}:{line.group(1)}" if line else example.where
        raise AssertionError(f"{where}: exited {code}\n{out}")


def python_argv(example: Example, env: DocEnv, port: int) -> list[str]:
    """The interpreter's argv: the block padded so tracebacks name its markdown lines."""
    source = "\n" * example.line + example.text.replace(DOC_PORT, str(port))
    path = env.workdir / f"example_{example.line}.py"
    path.write_text(source)
    runner = (
        "import ast, asyncio, sys\n"
        "code = compile(open(sys.argv[1]).read(), sys.argv[2], 'exec',"
        " flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)\n"
        "async def main():\n"
        "    result = eval(code, {'__name__': '__main__'})\n"
        "    if result is not None:\n"
        "        await result\n"
        "asyncio.run(main())\n"
    )
    return [sys.executable, "-c", runner, str(path), example.path]


async def run_serving(example: Example, env: DocEnv) -> None:
    """Start a block that serves until stopped on a port of its own; it must come to listen."""
    port = free_port()
    if example.lang == "python":
        argv = python_argv(example, env, port)
    else:
        argv = ["bash", "-c", example.text.replace(DOC_PORT, str(port))]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=env.workdir,
        env=env.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ready = await wait_ready(port, proc, 60)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 10)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = await proc.communicate()
    if not ready:
        raise AssertionError(f"{example.where}: never listened on its port\n{out.decode()}")


async def run_sql(example: Example, env: DocEnv, analyst: bool = False) -> None:
    """Run the block (as the analyst role when marked); outbox rows it added are pushed."""
    conn = await asyncpg.connect(env.db_url)
    try:
        before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM syncer.outbox")
        try:
            if analyst:
                await conn.execute(f'SET ROLE "{env.analyst}"')
            await conn.execute(example.text)
        except asyncpg.PostgresError as exc:
            raise AssertionError(f"{example.where}: {type(exc).__name__}: {exc}") from None
        finally:
            await conn.execute("RESET ROLE")
        added = await conn.fetchval("SELECT count(*) FROM syncer.outbox WHERE id > $1", before)
        if not added:
            return
        code, out = await run(["syncer", "push", "--config", "config/sandbox.toml"], env)
        rows = await conn.fetch(
            "SELECT id, connection, endpoint, operation, state, message FROM syncer.outbox "
            "WHERE id > $1 ORDER BY id",
            before,
        )
    finally:
        await conn.close()
    bad = [r for r in rows if r["state"] != "accepted"]
    if bad or code != 0:
        listing = "\n".join(
            f"  outbox {r['id']} {r['connection']} {r['endpoint']} {r['operation']}: "
            f"{r['state']} ({r['message']})"
            for r in bad
        )
        raise AssertionError(
            f"{example.where}: after `syncer push` (exit {code}), rows not accepted:\n"
            f"{listing}\n{out}"
        )


def run_toml(example: Example, env: DocEnv, connection: str) -> Config:
    try:
        raw: dict[str, Any] = tomllib.loads(example.text)
    except tomllib.TOMLDecodeError as exc:
        raise AssertionError(f"{example.where}: not valid TOML: {exc}") from None
    if isinstance(raw.get("connections"), list):
        path = env.workdir / "config" / f"example_{example.line}.toml"
        path.write_text(example.text)
        try:
            return load_config(path)
        except Exception as exc:
            raise AssertionError(f"{example.where}: {exc}") from None
    # a fragment: its keys (and those under a bare `[connections...]`) go into one connection
    fragment = {k: v for k, v in raw.items() if k != "connections"} | raw.get("connections", {})
    sandbox = tomllib.loads((env.workdir / "config" / "sandbox.toml").read_text())
    target = [c for c in sandbox["connections"] if c["name"] == connection]
    assert target, f"{example.where}: config/sandbox.toml has no connection {connection!r}"
    target[0].update(fragment)
    try:
        return Config.model_validate(sandbox, context={CONFIG_DIR: env.workdir / "config"})
    except Exception as exc:
        raise AssertionError(f"{example.where}: in connection {connection!r}: {exc}") from None


def commands(example: Example) -> list[tuple[int, list[str]]]:
    """The block's command lines (continuations joined, comments dropped) with their lines."""
    found: list[tuple[int, list[str]]] = []
    pending: list[str] = []
    for n, line in enumerate(example.text.splitlines(), start=example.line + 1):
        pending.append(line.rstrip().removesuffix("\\"))
        if line.rstrip().endswith("\\"):
            continue
        words = shlex.split(" ".join(pending), comments=True)
        if words:
            found.append((n - len(pending) + 1, words))
        pending = []
    return found


async def dry_check(example: Example, env: DocEnv) -> None:
    """A block that is not run still names commands and options that exist."""
    for line, words in commands(example):
        where = f"{example.path}:{line}"
        for n, word in enumerate(words):
            after_user = n > 0 and words[n - 1] == "-u"
            if (word == "syncer" or word.endswith("/bin/syncer")) and not after_user:
                argv = ["syncer", *words[n + 1 :], "--help"]
            elif word.endswith("python") and words[n + 1 : n + 2] == ["-m"]:
                argv = [sys.executable, *words[n + 1 :], "--help"]
            elif word == "make":
                argv = ["make", "-n", "-C", str(ROOT), *words[n + 1 :]]
            else:
                continue
            code, out = await run(argv, env)
            assert code == 0, f"{where}: {' '.join(argv)} exited {code}\n{out}"
            unknown = [w for w in words[n + 1 :] if w.startswith("--") and w not in out]
            assert not unknown, f"{where}: {' '.join(unknown)} not in {' '.join(argv)}"
            break


async def run_example(example: Example, env: DocEnv) -> None:
    """Run one example by its language and marker; an AssertionError names its place."""
    how = treatment(example)
    if how.skip:
        if example.lang == "sh":
            await dry_check(example, env)
        pytest.skip(f"{example.where}: not run ({how.skip})")
    if example.lang in DISPLAY:
        return
    if example.lang not in RUN:
        raise AssertionError(f"{example.where}: no treatment for ```{example.lang} blocks")
    if how.analyst and example.lang != "sql":
        raise AssertionError(f"{example.where}: only ```sql blocks run as the analyst role")
    if how.serves:
        await run_serving(example, env)
    elif example.lang == "sh":
        await run_sh(example, env, env.port)
    elif example.lang == "python":
        code, out = await run(python_argv(example, env, env.port), env)
        assert code == 0, f"{example.where}: exited {code}\n{out}"
    elif example.lang == "sql":
        await run_sql(example, env, how.analyst)
    elif example.lang == "toml":
        run_toml(example, env, how.connection)
    else:
        try:
            json.loads(example.text)
        except ValueError as exc:
            raise AssertionError(f"{example.where}: not valid JSON: {exc}") from None


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
async def test_example_runs_as_written(example: Example, doc_env: DocEnv) -> None:
    await run_example(example, doc_env)


# The runner must be able to fail: each way an example can be wrong, on a made-up example.


async def test_a_failing_command_fails_naming_its_line(doc_env: DocEnv) -> None:
    example = Example("docs/x.md", 10, "sh", "syncer status\nsyncer no-such-command\n")
    with pytest.raises(AssertionError, match=r"docs/x\.md:12: exited 2"):
        await run_example(example, doc_env)


async def test_an_sql_error_fails_naming_the_block(doc_env: DocEnv) -> None:
    example = Example("docs/x.md", 3, "sql", "SELECT no_such_column FROM syncer.runs;\n")
    with pytest.raises(AssertionError, match=r"docs/x\.md:3: UndefinedColumnError"):
        await run_example(example, doc_env)


async def test_an_analyst_block_runs_as_the_role_and_cannot_read_schema_syncer(
    doc_env: DocEnv,
) -> None:
    example = Example("docs/x.md", 9, "sql", "SELECT count(*) FROM syncer.runs;\n", "as analyst")
    with pytest.raises(
        AssertionError, match=r"docs/x\.md:9: InsufficientPrivilegeError: .*schema syncer"
    ):
        await run_example(example, doc_env)
    whoami = Example(
        "docs/x.md", 11, "sql", "DO $$ BEGIN ASSERT current_user = session_user; END $$;\n"
    )
    await run_example(whoami, doc_env)  # the role is reset after the block: the next runs as before
    reads = Example("docs/x.md", 13, "sql", "SELECT * FROM mirror_meta.streams;\n", "as analyst")
    await run_example(reads, doc_env)


async def test_an_outbox_row_the_vendor_rejects_fails(doc_env: DocEnv) -> None:
    sql = (
        "INSERT INTO syncer.outbox (connection, endpoint, payload) VALUES\n"
        "  ('xtrakit', 'customers', '{\"customer_phone\": \"+10000000000\"}');\n"
    )
    example = Example("docs/x.md", 7, "sql", sql)
    try:
        with pytest.raises(AssertionError, match=r"(?s)docs/x\.md:7: .*customers upsert: rejected"):
            await run_example(example, doc_env)
    finally:
        conn = await asyncpg.connect(doc_env.db_url)
        try:
            ids = await conn.fetch("SELECT id FROM syncer.outbox WHERE state <> 'accepted'")
        finally:
            await conn.close()
        await run(["syncer", "outbox", "drop", *(str(r["id"]) for r in ids)], doc_env)


async def test_a_not_run_block_with_an_unknown_option_fails(doc_env: DocEnv) -> None:
    text = "syncer worker --config prod.toml \\\n  --concurency 2\n"
    example = Example("docs/x.md", 4, "sh", text, "not run (a worker)")
    with pytest.raises(
        AssertionError, match=r"(?s)docs/x\.md:5: syncer worker .*exited 2.*--concurency"
    ):
        await run_example(example, doc_env)


async def test_an_invalid_config_fragment_fails(doc_env: DocEnv) -> None:
    example = Example("docs/x.md", 5, "toml", "rate_limt = 3\n", "in connection actito")
    with pytest.raises(AssertionError, match=r"docs/x\.md:5: in connection 'actito'"):
        await run_example(example, doc_env)


def test_every_sql_block_of_the_analysts_guide_runs_as_the_analyst() -> None:
    """docs/analysts.md is read by people with the analyst role: a query there that needs more
    (schema syncer) would fail them, so each one is run as that role."""
    blocks = [e for e in EXAMPLES if e.path == "docs/analysts.md" and e.lang == "sql"]
    assert blocks
    unmarked = [e.where for e in blocks if e.marker != "as analyst"]
    assert not unmarked, f"mark these <!-- example: as analyst -->: {', '.join(unmarked)}"
