"""Build the XtraKit sandbox app: `create_app` for tests, or to mount under a parent app."""

from __future__ import annotations

import time

from aiohttp import web

from syncer.sandbox.common.ratelimit import Clock
from syncer.sandbox.xtrakit import control, reads, writes
from syncer.sandbox.xtrakit.config import XtraKitConfig
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY, XtraKitSandbox


def create_app(
    config: XtraKitConfig | None = None, clock: Clock = time.monotonic
) -> web.Application:
    """An aiohttp app serving the XtraKit API (reads and writes) at `/api/v1/...` and control
    routes at `/_sandbox`.

    Routes sit at the app root, so the app can be served alone or mounted as a sub-app
    (`parent.add_subapp("/xtrakit", app)` → base URL `http://host:port/xtrakit/api/v1`). The
    dataset is generated here; `app[XTRAKIT_KEY]` is the live `XtraKitSandbox`. `clock` drives
    the rate limiter and the request log (inject a fake one to test limits without sleeping).
    """
    app = web.Application(middlewares=[reads.xtrakit_middleware])
    app[XTRAKIT_KEY] = XtraKitSandbox(config or XtraKitConfig(), clock=clock)
    reads.add_routes(app)
    writes.add_routes(app)
    control.add_routes(app)
    return app
