"""The shared budget's concurrent-request slots and reservations against real Postgres
(syncer/budget.py, syncer/pacing.py): a slot kept a moment for the process's next request,
never more slots than the cap across processes, and a reservation whose request never left."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import asyncpg
import pytest

from syncer import budget, errors
from syncer.pacing import CredentialGate

pytestmark = pytest.mark.integration

CREDENTIAL = budget.credential_id("exto", "http://vendor.invalid/data", "a-token")


async def held_slots(db: asyncpg.Connection) -> int:
    """Advisory locks of the credential's slot key held in this database."""
    key = budget._slot_key(CREDENTIAL)
    return int(
        await db.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            "AND l.classid::int = $1",
            key,
        )
    )


def shared(store: budget.BudgetStore, rate: float = 10.0, cap: int = 2) -> CredentialGate:
    gate = CredentialGate(rate, max_in_flight=cap)
    gate.share(budget.SharedBudget(store, CREDENTIAL, "exto"))
    return gate


async def test_a_slot_is_kept_for_the_next_request_then_given_back(
    db_url: str, db: asyncpg.Connection
) -> None:
    """A request's slot stays held after it ends (the next request of the process takes it
    without a round trip), and is given back once no request has taken it for the linger
    (twice the interval: 0.2 s at 10 requests/s)."""
    async with budget.store(db_url) as store:
        gate = shared(store)
        async with gate.in_flight():
            assert await held_slots(db) == 1
        assert await held_slots(db) == 1  # kept
        async with gate.in_flight():
            assert await held_slots(db) == 1  # the same slot again, no second lock
        await asyncio.sleep(0.1)
        assert await held_slots(db) == 1  # still within the linger of its last use
        await asyncio.sleep(0.3)
        assert await held_slots(db) == 0


async def test_a_kept_slot_still_counts_against_the_cap_of_every_process(
    db_url: str, db: asyncpg.Connection
) -> None:
    """Cap 2: one process keeps its slot after its request; another process gets the other
    slot at once, and its second request waits until the kept slot is given back."""
    async with budget.store(db_url) as first_store:
        first = shared(first_store)
        async with first.in_flight():
            pass
        second_store = budget.BudgetStore(db_url)  # another process: a session of its own
        try:
            second = shared(second_store)
            async with second.in_flight():
                waiting = asyncio.ensure_future(second.in_flight().__aenter__())
                await asyncio.sleep(0.1)
                assert not waiting.done()  # both slots held: one in flight, one kept
                await asyncio.wait_for(waiting, 1.0)  # the kept slot, once given back
                assert await held_slots(db) == 2
        finally:
            await second_store.close()


class FailingStore:
    """A store whose reservation fails (Postgres gone)."""

    closed = False

    async def reserve(self, *args: Any) -> budget.Slot:
        raise errors.MirrorError("cannot reserve a request in the rate budget: gone")


async def test_a_failed_reservation_of_a_request_that_never_left_is_not_an_unseen_error() -> None:
    """The reservation starts at admission; a request that then gives up before it leaves
    never awaits it, and its failure must not surface as 'Task exception was never
    retrieved'. The request that does leave gets the error."""
    loop = asyncio.get_running_loop()
    unseen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unseen.append(context))
    try:
        gate = CredentialGate(10.0)
        gate.share(budget.SharedBudget(FailingStore(), CREDENTIAL, "exto"))  # type: ignore[arg-type]
        ticket = await gate.acquire()
        await asyncio.sleep(0.01)  # the reservation fails
        gate.release(ticket)
        del ticket
        gc.collect()
        await asyncio.sleep(0)
        assert unseen == []
        ticket = await gate.acquire()
        with pytest.raises(errors.MirrorError, match="gone"):
            await gate.leave(ticket)
        gate.release(ticket)
    finally:
        loop.set_exception_handler(None)


async def test_a_missed_slot_moves_only_when_no_slot_was_handed_out_after_it(db_url: str) -> None:
    """A request late for its slot may send later if nobody reserved the slot after it (no
    whole interval lost); once another process reserved one, the slot cannot move and the
    request reserves the next free one."""
    async with budget.store(db_url) as store:
        first = await store.reserve(CREDENTIAL, "exto", 10.0, 0.0, False, 10.0)
        assert first.token is not None and first.at is not None
        moved = await store.move(CREDENTIAL, first.token, 0.05)
        assert moved is not None and moved.at is not None and moved.token is not None
        assert moved.at >= first.at + 0.04  # to 50 ms from now, no more
        assert moved.at < first.at + 0.1
        other = await store.reserve(CREDENTIAL, "exto", 10.0, 0.0, False, 10.0)
        assert other.at is not None and other.at >= moved.at + 0.099  # one interval after it
        assert await store.move(CREDENTIAL, moved.token, 0.0) is None


async def test_a_statement_cut_short_never_leaves_the_budget_unusable(
    db_url: str, db: asyncpg.Connection
) -> None:
    """A reservation cancelled while Postgres works on it (its run was cancelled) leaves the
    connection busy; the store drops it, and the next reservation works on a new session
    (before: "another operation is in progress", an unclassified failure, exit 1; fault
    experiment 4). A slot kept under the dropped session is not handed out again."""
    async with budget.store(db_url) as store:
        gate = shared(store)
        async with gate.in_flight():
            pass  # a slot kept for the next request, held by the first session
        cut = asyncio.ensure_future(store._fetchrow("sleep", "SELECT pg_catalog.pg_sleep(1)"))
        await asyncio.sleep(0.2)
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        slot = await store.reserve(CREDENTIAL, "exto", 10.0, 0.0, False, 10.0)
        assert slot.at is not None and store.sessions == 1
        for _ in range(200):  # the dropped session's backend ends after its statement
            if await held_slots(db) == 0:
                break
            await asyncio.sleep(0.02)
        assert await held_slots(db) == 0  # its kept slot went with it
        async with gate.in_flight():
            assert await held_slots(db) == 1  # taken anew on the new session
