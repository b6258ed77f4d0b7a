"""Build and serve the Exto sandbox: `create_app` for tests, `serve` for the CLI and benchmarks."""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from syncer.sandbox import control, exto
from syncer.sandbox.config import SandboxConfig
from syncer.sandbox.ratelimit import Clock
from syncer.sandbox.state import SANDBOX_KEY, Sandbox

if TYPE_CHECKING:
    from syncer.sandbox.actito import ActitoConfig
    from syncer.sandbox.ioto import IotoConfig
    from syncer.sandbox.xtrakit import XtraKitConfig


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
    await serve_app(create_app(config), host, port)


def create_all(
    exto: SandboxConfig | None = None,
    actito: ActitoConfig | None = None,
    xtrakit: XtraKitConfig | None = None,
    ioto: IotoConfig | None = None,
) -> web.Application:
    """One app for the four vendors: Exto under /data, the others under /actito, /xtrakit and
    /ioto (each its own sub-app with its own auth, limits and control routes)."""
    from syncer.sandbox import actito as actito_sandbox
    from syncer.sandbox import ioto as ioto_sandbox
    from syncer.sandbox import xtrakit as xtrakit_sandbox

    root = create_app(exto)
    root.add_subapp("/actito", actito_sandbox.create_app(actito))
    root.add_subapp("/xtrakit", xtrakit_sandbox.create_app(xtrakit))
    root.add_subapp("/ioto", ioto_sandbox.create_app(ioto))
    return root


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve `app` on host:port until cancelled (HTTPS with `ssl_context`); no access log.

    `on_ready` runs once the port is bound; a port already taken raises OSError (EADDRINUSE)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    # the dataset is built: keep the cyclic collector off it for good. Its full collections
    # otherwise rescan every record (25 to 60 ms for 20,000 of them), and a vendor's limiter
    # stamps the requests that arrive meanwhile that much late (bench/limits.py)
    gc.freeze()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        if on_ready is not None:
            on_ready()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
