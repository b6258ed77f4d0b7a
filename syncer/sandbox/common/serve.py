"""Serving a sandbox app on a port: no access log, the collector frozen over the built dataset."""

from __future__ import annotations

import asyncio
import gc
import ssl
from collections.abc import Callable

from aiohttp import web


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
