"""health.check against runs in a real Postgres, and notify against local receivers that fail
in each way a receiver can."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from syncer import health
from syncer.settings import Config
from tests.sandboxes import Serve

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def config(streams: list[str], notify_url: str | None = None, **extra: Any) -> Config:
    connection = {
        "name": "exto",
        "vendor": "exto",
        "base_url": "https://vendor.example.com/data",
        "token_env": "SYNCER_TEST_EXTO_TOKEN",
        "rate_limit": 3,
        "streams": streams,
        "notify_url": notify_url,
        **extra,
    }
    return Config.model_validate({"connections": [connection]})


async def add_run(
    db: asyncpg.Connection,
    stream: str,
    status: str,
    started_min_ago: float,
    *,
    connection: str = "exto",
    error: str | None = None,
) -> int:
    started = NOW - timedelta(minutes=started_min_ago)
    finished = None if status == "running" else started + timedelta(seconds=30)
    run_id: int = await db.fetchval(
        "INSERT INTO syncer.runs (invocation, connection, stream, mode, status, started_at, "
        "finished_at, error) VALUES (gen_random_uuid(), $1, $2, 'full', $3, $4, $5, $6) "
        "RETURNING run_id",
        connection,
        stream,
        status,
        started,
        finished,
        error,
    )
    return run_id


async def test_check_judges_each_configured_stream_from_its_newest_runs(
    db_url: str, db: asyncpg.Connection
) -> None:
    good = await add_run(db, "users", "quarantined", 50)
    failed = await add_run(db, "users", "failed", 20, error="exto answered 503")
    await add_run(db, "users", "running", 1)  # in progress: not the last finished run
    await add_run(db, "groups", "failed", 200)
    ok = await add_run(db, "groups", "incomplete", 100)
    await add_run(db, "groups", "running", 2)
    await add_run(db, "master:LOCATION", "abandoned", 10)
    old = await add_run(db, "module:INSPECTION", "succeeded", 24 * 60)
    await add_run(db, "module:INSPECTION", "succeeded", 1, connection="other")  # not this one
    await add_run(db, "master:GONE", "failed", 1)  # no longer configured: not judged
    cfg = config(
        ["users", "groups", "master:LOCATION", "module:INSPECTION", "master:NEW"],
        max_staleness="6h",
        per_stream={"groups": {"max_staleness": "30m"}},
    )
    report = await health.check(cfg, db_url, NOW)
    verdicts = {s.stream: s for s in report.streams}
    assert tuple(verdicts) == cfg.connections[0].streams  # in the config's order
    assert verdicts["users"].problem == "failed"
    assert verdicts["users"].runs.last_run_id == failed
    assert verdicts["users"].runs.good_run_id == good
    assert "exto answered 503" in verdicts["users"].detail
    assert "a run has been running since" in verdicts["users"].detail
    groups = verdicts["groups"]
    assert (groups.problem, groups.runs.good_run_id, groups.max_staleness) == ("stale", ok, 1800)
    assert groups.staleness == pytest.approx(100 * 60 - 30)
    assert verdicts["master:LOCATION"].problem == "failed"
    assert "abandoned" in verdicts["master:LOCATION"].detail
    assert "it never succeeded" in verdicts["master:LOCATION"].detail
    assert verdicts["module:INSPECTION"].problem == "stale"
    assert verdicts["module:INSPECTION"].runs.good_run_id == old
    assert verdicts["master:NEW"].problem == "never_succeeded"
    fresh = await health.check(cfg, db_url, NOW - timedelta(minutes=100))
    assert {s.stream: s.problem for s in fresh.streams}["groups"] is None


def hook(
    bodies: list[bytes], answer: Callable[[], Awaitable[web.StreamResponse]]
) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.read())
        return await answer()

    app = web.Application()
    app.router.add_post("/hook/s3cr3t", handle)
    app.router.add_route("*", "/elsewhere", handle)
    return app


async def never_run(
    serve: Serve, answer: Callable[[], Awaitable[web.StreamResponse]]
) -> tuple[list[bytes], list[health.Delivery]]:
    """A stream never run (so unhealthy), notified to a receiver answering `answer`."""
    bodies: list[bytes] = []
    port = await serve(hook(bodies, answer))
    cfg = config(["users"], f"http://127.0.0.1:{port}/hook/s3cr3t")
    report = health.Report(NOW, [health.evaluate(health.StreamRuns("exto", "users"), None, NOW)])
    return bodies, await health.notify(cfg, report, within=0.5)


async def test_a_receiver_answering_500_is_a_failed_notification(serve: Serve) -> None:
    async def answer() -> web.StreamResponse:
        return web.Response(status=500, text="down")

    bodies, [delivery] = await never_run(serve, answer)
    assert len(bodies) == 1 and delivery.error == "the receiver answered HTTP 500"


async def test_a_redirect_is_not_followed_and_fails(serve: Serve) -> None:
    async def answer() -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/elsewhere")

    bodies, [delivery] = await never_run(serve, answer)
    assert len(bodies) == 1  # /elsewhere was never asked
    assert delivery.error == "the receiver answered HTTP 307 (redirects are not followed)"


async def test_a_receiver_that_does_not_answer_in_time_fails_without_hanging(
    serve: Serve,
) -> None:
    async def answer() -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(status=204)

    _, [delivery] = await never_run(serve, answer)
    assert delivery.error == "no answer within 0.5 s"
    assert delivery.target.startswith("http://127.0.0.1:") and "s3cr3t" not in delivery.target


async def test_a_healthy_report_or_no_notify_url_posts_nothing(serve: Serve) -> None:
    bodies: list[bytes] = []

    async def answer() -> web.StreamResponse:
        return web.Response(status=204)

    port = await serve(hook(bodies, answer))
    fresh = health.evaluate(
        health.StreamRuns("exto", "users", good_run_id=1, good_finished_at=NOW), None, NOW
    )
    cfg = config(["users"], f"http://127.0.0.1:{port}/hook/s3cr3t")
    assert await health.notify(cfg, health.Report(NOW, [fresh])) == []
    sick = health.evaluate(health.StreamRuns("exto", "users"), None, NOW)
    assert await health.notify(config(["users"]), health.Report(NOW, [sick])) == []
    assert bodies == []
