"""Build and serve the Exto sandbox: `create_app` for tests, `serve` for the CLI and benchmarks."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from syncer.sandbox import control, exto
from syncer.sandbox.config import SandboxConfig
from syncer.sandbox.ratelimit import Clock
from syncer.sandbox.state import SANDBOX_KEY, Sandbox


def create_app(
    config: SandboxConfig | None = None, clock: Clock = time.monotonic
) -> web.Application:
    """An aiohttp app serving the Exto API under `/data` and control routes under `/_sandbox`.

    The dataset is generated here; `app[SANDBOX_KEY]` is the live `Sandbox`. `clock` drives the
    rate limiter and the request log (inject a fake one to test rate limits without sleeping).
    """
    app = web.Application(middlewares=[exto.exto_middleware], client_max_size=16 * 1024 * 1024)
    app[SANDBOX_KEY] = Sandbox(config or SandboxConfig(), clock=clock)
    exto.add_routes(app)
    control.add_routes(app)
    return app


async def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the sandbox on host:port until cancelled; prints nothing (no access log either)."""
    runner = web.AppRunner(create_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
