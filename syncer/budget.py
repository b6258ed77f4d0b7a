"""One rate budget per vendor credential across processes and machines, kept in Postgres.

Every process that sends with a credential (a CLI sync or push, any number of workers) paces
its own requests with its `pacing.CredentialGate`, and before each request leaves, reserves
the credential's next free send slot in `syncer.rate_budgets` (one UPDATE, one round trip):
`next_at` moves one interval (1 / rate) past the slot. Slots never overlap, so the
credential's requests reach the vendor one interval apart whichever process sends them.

- **Time** is the database's (`clock_timestamp()`): each process keeps an estimate of the
  database's clock against its own monotonic one (`DatabaseClock`: every round trip is a
  sample, the shortest recent trip's is believed), so machines need no synchronised clocks, and
  a reply that waited in a busy process does not move the slots it converts.
- **Counted when they leave.** A reservation asks for a slot no earlier than the moment the
  process's own gate would send (its previous request left one interval ago), and each
  process has at most one reservation outstanding (its gate admits the next request once the
  previous has left).
- **429s.** A 429 in any process pauses the credential everywhere (`paused_until`) and shares
  the paced rate that process adapted to (`rate`); every reservation hands each process the
  shared rate, so the AIMD rules of `pacing` hold over all of them. A reservation already
  taken is kept: at most one request per other process may leave during a pause.
- **Concurrent requests** (a vendor that caps them, Actito's 5 per licence: `max_in_flight`):
  each request also holds one of the credential's slots, a session advisory lock, while it is
  in flight; a process that dies frees its slots with its session. A process keeps a slot a
  moment after its request ends (`SharedBudget.give_slot`), for its next request: a stream
  that pages one request at a time would otherwise wait for two more round trips per page.
- **Cost**: one UPDATE of an UNLOGGED row per request (no WAL), measured in BENCHMARKS.md; where
  `max_in_flight` is set, two more round trips whenever a process starts or stops sending.

    async with budget.store(database_url) as store:
        async with VendorClient(conn, connector, token, budgets=store) as client: ...
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import structlog

from syncer import errors

log = structlog.get_logger(__name__)

_RESERVE = """
WITH ask AS (
    SELECT $1::text AS credential, $2::text AS label, $3::float8 AS rate,
           pg_catalog.make_interval(secs => $4::float8) AS earliest, $5::bool AS changed,
           $6::float8 AS ceiling
)
INSERT INTO syncer.rate_budgets AS b (credential, label, rate, next_at)
SELECT credential, label, rate,
       pg_catalog.clock_timestamp() + earliest + pg_catalog.make_interval(secs => 1.0 / rate)
  FROM ask
ON CONFLICT (credential) DO UPDATE
   SET label = EXCLUDED.label,
       rate = (SELECT CASE WHEN changed THEN rate ELSE LEAST(b.rate, ceiling) END
                 FROM ask),
       next_at = (SELECT GREATEST(
                             b.next_at, b.paused_until, pg_catalog.clock_timestamp() + earliest)
                         + pg_catalog.make_interval(secs => 1.0 / (
                             CASE WHEN changed THEN rate ELSE LEAST(b.rate, ceiling) END))
                    FROM ask),
       requests = b.requests + 1,
       updated_at = pg_catalog.clock_timestamp()
RETURNING pg_catalog.date_part('epoch', b.next_at) - 1.0 / b.rate AS slot_at,
          pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) AS db_now,
          b.rate, b.next_at
"""
#: a slot missed by its request moves to `$3` seconds from now, if no slot was handed out
#: after it (`next_at` is still the one its reservation set): nobody sends one interval after
#: it, so sending later harms nobody, and the request need not wait a whole interval more
_MOVE = """
UPDATE syncer.rate_budgets AS b
   SET next_at = GREATEST(
           b.paused_until,
           pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3::float8)
       ) + pg_catalog.make_interval(secs => 1.0 / b.rate),
       updated_at = pg_catalog.clock_timestamp()
 WHERE b.credential = $1::text AND b.next_at = $2::timestamptz
RETURNING pg_catalog.date_part('epoch', b.next_at) - 1.0 / b.rate AS slot_at,
          pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) AS db_now,
          b.rate, b.next_at
"""
_NOW = "SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())"

_PAUSE = """
UPDATE syncer.rate_budgets
   SET paused_until = GREATEST(
           paused_until,
           pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $2::float8)),
       rate = COALESCE($3::float8, rate),
       limited = limited + 1,
       updated_at = pg_catalog.clock_timestamp()
 WHERE credential = $1::text
"""


#: one of `$2` concurrent-request slots of a credential, as a session advisory lock of the
#: two-key form (its own lock space: stream locks use the one-key form); NULL when all are held
#: a free slot: not one this session holds already (a session's advisory locks stack, so
#: without that a process's second request would take its first one's slot again, one more
#: request in flight than the cap); the free ones are listed first (OFFSET 0 keeps the
#: planner from trying locks on rows a join would then drop), locked one at a time
_TAKE_SLOT = """
SELECT s FROM (
    SELECT s FROM pg_catalog.generate_series(0, $2::int - 1) AS s
    WHERE s NOT IN (
        SELECT l.objid::int FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
          AND l.classid = $1::int::oid AND l.objsubid = 2
    )
    ORDER BY s OFFSET 0
) AS free
WHERE pg_catalog.pg_try_advisory_lock($1::int, s) LIMIT 1
"""
_GIVE_SLOT = "SELECT pg_catalog.pg_advisory_unlock($1::int, $2::int)"
#: how often a request waiting for a concurrent-request slot held elsewhere looks again
SLOT_POLL = 0.05
#: how long a process keeps a concurrent-request slot after its request ended, for its next
#: one: twice the credential's interval, within these bounds (seconds)
SLOT_LINGER_MIN = 0.05
#: round trips that sample the database's clock when the store connects
CLOCK_WARMUP = 5
SLOT_LINGER_MAX = 1.0


def credential_id(vendor: str, base_url: str, token: str) -> str:
    """The credential's row key: a digest, so the table never holds the token."""
    digest = hashlib.blake2b(digest_size=16, person=b"syncer-budget")
    digest.update("\x00".join((vendor, base_url.rstrip("/"), token)).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Slot:
    """A reserved send slot and the credential's rate: the slot as a time of this process's
    monotonic clock (`at`), or (a store without a clock of its own) as seconds after the
    middle of the reservation's round trip (`wait`)."""

    rate: float
    wait: float = 0.0
    at: float | None = None
    #: the credential's `next_at` this reservation left (`BudgetStore.move`)
    token: datetime.datetime | None = None


class DatabaseClock:
    """The database's clock on this process's monotonic clock, as NTP filters it: each round
    trip brings a sample (the database's reading, taken to be at the middle of the trip, is
    off by half the difference of the two halves), and the sample of the shortest trip among
    the latest few is the one believed. One trip alone is not enough: a reply that waits in a
    busy process (one starting up, one decoding a page) moves its midpoint by half the wait,
    and a slot converted with it lands that much too early or too late; measured in fault
    experiment 21, 6 to 9 ms, against the 3 ms a token bucket without burst leaves at 10
    requests/s."""

    SAMPLES = 16

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=self.SAMPLES
        )

    def add(self, asked: float, answered: float, db_now: float) -> None:
        self._samples.append((answered - asked, db_now - (asked + answered) / 2))

    @property
    def known(self) -> bool:
        return bool(self._samples)

    def local(self, db_time: float) -> float:
        """`db_time` (the database's epoch seconds) on this process's monotonic clock."""
        _, offset = min(self._samples)
        return db_time - offset


class BudgetStore:
    """The process's link to `syncer.rate_budgets` in one database: one connection, one
    statement at a time (a reservation takes well under a millisecond)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._users = 0
        self.closed = False
        self.clock = DatabaseClock()
        #: connections dropped so far: a concurrent-request slot kept under an earlier one
        #: is no longer held
        self.sessions = 0

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            from syncer.mirror import connect_one  # mirror imports http, which imports this

            self._conn = await connect_one(self._url)
            # a few samples of the database's clock before the first slot depends on them
            for _ in range(CLOCK_WARMUP):
                asked = time.monotonic()
                db_now = await self._conn.fetchval(_NOW)
                self.clock.add(asked, time.monotonic(), float(db_now))
        return self._conn

    async def _fetchrow(self, doing: str, query: str, *args: object) -> asyncpg.Record | None:
        """One statement on the store's connection, one at a time; a MirrorError naming
        `doing` when Postgres fails. A row with `db_now` is a sample of the database's clock."""
        try:
            async with self._lock:
                try:
                    conn = await self._connection()
                    asked = time.monotonic()
                    row: asyncpg.Record | None = await conn.fetchrow(query, *args)
                except BaseException:
                    # a statement cut short (cancelled with its run, or a session terminated)
                    # can leave the connection busy with it: the next statement would fail
                    # with "another operation is in progress" (fault experiment 4); never
                    # reuse it
                    self._drop()
                    raise
                if row is not None and "db_now" in row:
                    self.clock.add(asked, time.monotonic(), float(row["db_now"]))
                return row
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            raise errors.MirrorError(f"cannot {doing} in the rate budget: {exc}") from exc

    def _drop(self) -> None:
        """Forget the connection (its session, and every slot it held, ends with it)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
        self.sessions += 1

    async def reserve(
        self,
        credential: str,
        label: str,
        rate: float,
        earliest: float,
        changed: bool,
        ceiling: float,
    ) -> Slot:
        """The next free slot of `credential`, no sooner than `earliest` seconds from now.
        `rate` is this process's paced rate, shared when `changed` (its gate adapted it)."""
        row = await self._fetchrow(
            "reserve a request", _RESERVE, credential, label, rate, earliest, changed, ceiling
        )
        assert row is not None
        return self._slot(row)

    async def move(self, credential: str, token: datetime.datetime, earliest: float) -> Slot | None:
        """The slot `token` names, missed by its request, moved to `earliest` seconds from now;
        None when another slot was handed out after it (reserve a new one then)."""
        row = await self._fetchrow("move a missed slot", _MOVE, credential, token, earliest)
        return None if row is None else self._slot(row)

    def _slot(self, row: asyncpg.Record) -> Slot:
        at = self.clock.local(float(row["slot_at"]))
        return Slot(float(row["rate"]), at=at, token=row["next_at"])

    async def pause(self, credential: str, seconds: float, rate: float | None) -> None:
        """A 429: no request of the credential leaves for `seconds`, in any process."""
        try:
            await self._fetchrow("share a pause", _PAUSE, credential, seconds, rate)
        except errors.MirrorError as exc:
            log.warning("budget.pause_failed", error=exc.message)

    async def take_slot(self, credential: str, slots: int) -> int:
        """One of the credential's `slots` concurrent-request slots, held by this process's
        session until `give_slot` (or until the session ends: a process that dies frees its
        slots). Waits while every slot is held, by any process."""
        key = _slot_key(credential)
        while True:
            row = await self._fetchrow("take a concurrent-request slot", _TAKE_SLOT, key, slots)
            if row is not None:
                return int(row["s"])
            await asyncio.sleep(SLOT_POLL)

    async def give_slot(self, credential: str, slot: int) -> None:
        if self.closed:
            return  # the store's session ended, and every slot it held with it
        try:
            await self._fetchrow(
                "give a concurrent-request slot back", _GIVE_SLOT, _slot_key(credential), slot
            )
        except errors.MirrorError as exc:
            log.warning("budget.slot_release_failed", error=exc.message)

    async def close(self) -> None:
        self.closed = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


def _slot_key(credential: str) -> int:
    """The credential's advisory-lock key (a signed 32-bit int from its digest)."""
    return int.from_bytes(bytes.fromhex(credential)[:4], "big", signed=True)


_STORES: dict[tuple[int, str], BudgetStore] = {}


@contextlib.asynccontextmanager
async def store(database_url: str) -> AsyncIterator[BudgetStore]:
    """The process's budget store for this database, while any run of this event loop uses
    it (runs in one worker share it; the last one out closes its connection)."""
    key = (id(asyncio.get_running_loop()), database_url)
    shared = _STORES.get(key)
    if shared is None or shared.closed:
        shared = _STORES[key] = BudgetStore(database_url)
    shared._users += 1
    try:
        yield shared
    finally:
        shared._users -= 1
        if shared._users == 0:
            _STORES.pop(key, None)
            await shared.close()


@dataclass
class SharedBudget:
    """One credential's budget in a store, as its gate uses it."""

    store: BudgetStore
    credential: str
    label: str
    #: concurrent-request slots this process holds with no request in them: slot -> (the
    #: release that put it here, the store's session that holds it)
    _spare: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: slots in flight: slot -> the store's session that took it
    _taken: dict[int, int] = field(default_factory=dict)
    _releases: int = 0
    _later: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def usable(self) -> bool:
        return not self.store.closed

    async def take_slot(self, slots: int) -> int:
        """One of the credential's `slots` concurrent-request slots: one this process kept
        from a request that ended a moment ago, else one taken in Postgres (waiting while
        every slot is held, by any process)."""
        while self._spare:
            slot, (_, session) = self._spare.popitem()
            if session == self.store.sessions:
                self._taken[slot] = session
                return slot  # still held by the store's session
        slot = await self.store.take_slot(self.credential, slots)
        self._taken[slot] = self.store.sessions
        return slot

    def give_slot(self, slot: int, linger: float) -> None:
        """The request holding `slot` ended: keep the slot `linger` seconds for this process's
        next request, then give it back unless one took it."""
        if self._taken.pop(slot, None) != self.store.sessions:
            return  # the session that held it ended: nothing to keep or give back
        self._releases += 1
        release = self._releases
        self._spare[slot] = (release, self.store.sessions)
        task = asyncio.get_running_loop().create_task(self._give_back(slot, release, linger))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _give_back(self, slot: int, release: int, linger: float) -> None:
        await asyncio.sleep(linger)
        kept = self._spare.get(slot)
        if kept is not None and kept[0] == release:
            del self._spare[slot]
            if kept[1] == self.store.sessions:
                await self.store.give_slot(self.credential, slot)
