"""A push whose lock session died stops before its next outbox commit (issue 10, part 6):
the push lock's fencing token, real Postgres, the Exto sandbox over HTTP."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from syncer import errors, push
from tests import outbox
from tests.conftest import SandboxFactory, exto_config

pytestmark = pytest.mark.integration

OPTIONS = {"unique:LOCATION": "serial_number"}


#: every change of an outbox row, with the application (the push) that made it and when
AUDIT = """
CREATE TABLE public.outbox_writes (app text, at timestamptz, state text);
CREATE FUNCTION public.audit_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.outbox_writes
    VALUES (pg_catalog.current_setting('application_name'), pg_catalog.clock_timestamp(),
            NEW.state);
    RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER UPDATE ON syncer.outbox
FOR EACH ROW EXECUTE FUNCTION public.audit_outbox();
"""


def named(url: str, app: str) -> str:
    return url + ("&" if "?" in url else "?") + f"application_name={app}"


async def test_a_push_whose_lock_session_died_commits_no_outcome_after_the_next_push_starts(
    sandbox: SandboxFactory, db_url: str, db: asyncpg.Connection, token_env: str
) -> None:
    """3,000 upserts at 2 requests/s. The first push's lock backend is terminated once it has
    settled a chunk; a second push starts, takes the lock and its next token. The first push
    changes no outbox row after the second one's first change (an audit trigger records who
    changed what, when) and fails with LockLost; the second sends the rest; every row ends
    accepted, and the vendor holds every record."""
    url, sb = await sandbox(master_records=20)
    rows = [{"serial_number": 7_000_000 + i, "name": f"Fenced {i}"} for i in range(3_000)]
    await outbox.enqueue(db, "exto", "master:LOCATION", "upsert", rows)
    await db.execute(AUDIT)
    config = exto_config(url, options=OPTIONS, rate_limit=2, push_read_back=False)
    first = asyncio.ensure_future(push.push(config, named(db_url, "first")))
    holder = None
    for _ in range(500):
        holder = await db.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "CROSS JOIN (SELECT pg_catalog.hashtextextended('syncer.push:exto', 0) AS k) key "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            # the push lock's own key (a 64-bit key shows as its high and low 32 bits): a
            # stream registration's transaction lock must not be the backend terminated
            "AND l.classid::bigint = (key.k >> 32) & 4294967295 "
            "AND l.objid::bigint = key.k & 4294967295"
        )
        if holder and await db.fetchval(
            "SELECT count(*) FROM syncer.outbox WHERE state = 'accepted'"
        ):
            break
        await asyncio.sleep(0.02)
    assert holder is not None
    await db.execute("SELECT pg_terminate_backend($1)", holder)
    second = asyncio.ensure_future(push.push(config, named(db_url, "second")))
    [lost], [won] = await first, await second
    audit = await db.fetchrow(
        "SELECT min(at) FILTER (WHERE app = 'second') AS took_over, "
        "max(at) FILTER (WHERE app = 'first') AS last_first, "
        "count(*) FILTER (WHERE app = 'first' AND state = 'accepted') AS first_accepted "
        "FROM public.outbox_writes"
    )
    assert 0 < audit["first_accepted"] < 3_000
    assert audit["last_first"] < audit["took_over"]
    assert lost.exit_code == errors.ExitCode.TRANSIENT
    assert lost.error is not None and "took over" in lost.error
    assert won.exit_code == errors.ExitCode.OK, won.error
    counts = await db.fetch("SELECT state, count(*) AS n FROM syncer.outbox GROUP BY state")
    assert {r["state"]: r["n"] for r in counts} == {"accepted": 3_000}
    serials = {r["customFields"].get("serial_number") for r in sb.records("master", "LOCATION")}
    assert {r["serial_number"] for r in rows} <= serials
