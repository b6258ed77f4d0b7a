"""Build the Actito sandbox app: `create_app` for tests and for mounting in a combined server."""

from __future__ import annotations

import time

from aiohttp import web

from syncer.sandbox.actito import control, reads, writes
from syncer.sandbox.actito.config import ActitoConfig
from syncer.sandbox.actito.middleware import actito_middleware
from syncer.sandbox.actito.state import ACTITO_KEY, ActitoSandbox
from syncer.sandbox.common.ratelimit import Clock


def create_app(
    config: ActitoConfig | None = None, clock: Clock = time.monotonic
) -> web.Application:
    """An aiohttp app serving the Actito API at its root and control routes under `/_sandbox/`.

    The dataset is generated here; `app[ACTITO_KEY]` is the live `ActitoSandbox`. `clock` drives
    token expiry, the calls-per-minute window, the request log, the ledger and the time writes
    stamp on profiles and records (inject a fake one in tests).
    Mount it anywhere: `root.add_subapp("/actito", create_app())`.
    """
    app = web.Application(middlewares=[actito_middleware])
    app[ACTITO_KEY] = ActitoSandbox(config or ActitoConfig(), clock=clock)
    reads.add_routes(app)
    writes.add_routes(app)
    control.add_routes(app)
    return app
