"""Build the Ioto sandbox app: `create_app` for tests, servers and mounting under `/ioto`."""

from __future__ import annotations

import time

from aiohttp import web

from syncer.sandbox.common.ratelimit import Clock
from syncer.sandbox.ioto import control, reads
from syncer.sandbox.ioto.config import IotoConfig
from syncer.sandbox.ioto.state import IOTO_KEY, IotoSandbox


def create_app(config: IotoConfig | None = None, clock: Clock = time.monotonic) -> web.Application:
    """An aiohttp app serving the Ioto API (`/tok/...`) and control routes (`/_sandbox/...`).

    Routes sit at the app's root, so it can be served alone or mounted as a sub-app
    (`parent.add_subapp("/ioto", create_app())`, base URL `http://host:port/ioto`). The dataset is
    generated here; `app[IOTO_KEY]` is the live `IotoSandbox`. `clock` drives the throttle and the
    request log (inject a fake one to test throttling without sleeping).
    """
    app = web.Application()
    app[IOTO_KEY] = IotoSandbox(config or IotoConfig(), clock=clock)
    control.add_routes(app)
    reads.add_routes(app)  # the catch-all goes last
    return app
