"""Build and serve the Exto sandbox: `create_app` for tests, `install` for the root app, `serve`
for a test of the command-line entry point."""

from __future__ import annotations

import time

from aiohttp import web

from syncer.sandbox.common.ratelimit import Clock
from syncer.sandbox.common.serve import serve_app
from syncer.sandbox.exto import control, reads, writes
from syncer.sandbox.exto.config import ExtoConfig
from syncer.sandbox.exto.middleware import exto_middleware
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox

#: Exto's write routes take bodies of up to 1,000 records; aiohttp's default is 1 MiB
CLIENT_MAX_SIZE = 16 * 1024 * 1024
#: aiohttp's own request-line limit (8,190 bytes) would answer a long URL 400 before the
#: `max_url_chars` knob decides (414, as Exto documents): the server serving the app allows more
HANDLER_ARGS = {"max_line_size": 65_536}


def create_app(config: ExtoConfig | None = None, clock: Clock = time.monotonic) -> web.Application:
    """An aiohttp app serving the Exto API under `/data` and control routes under `/_sandbox`.

    The dataset is generated here; `app[EXTO_KEY]` is the live `ExtoSandbox`. `clock` drives the
    rate limiter and the request log (inject a fake one to test rate limits without sleeping).
    """
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, handler_args=HANDLER_ARGS)
    install(app, config, clock)
    return app


def install(
    app: web.Application, config: ExtoConfig | None = None, clock: Clock = time.monotonic
) -> None:
    """Put Exto on `app`: its middleware (which acts only under `/data`), its sandbox and routes.

    Exto is not a sub-app like the other three: its base URLs are two (`/data` and
    `/_sandbox`), and an aiohttp sub-app has one prefix.
    """
    app.middlewares.append(exto_middleware)
    app[EXTO_KEY] = ExtoSandbox(config or ExtoConfig(), clock=clock)
    reads.add_routes(app)
    writes.add_routes(app)
    control.add_routes(app)


async def serve(config: ExtoConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve Exto alone on host:port until cancelled; prints nothing (no access log either)."""
    await serve_app(create_app(config), host, port)
