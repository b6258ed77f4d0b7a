"""A local emulator of the XtraKit API, written from XtraKit's documents (docs/vendors/xtrakit.md).

In a test, served by `aiohttp.test_utils.TestServer`:

    app = create_app(XtraKitConfig(customers=500), clock=fake_clock)
    sb = app[XTRAKIT_KEY]  # the live XtraKitSandbox: knobs, records(), generation(), request_log,
                           # ledger (the writes applied)

Routes sit at the app root (`/api/v1/...`), so it can also be mounted as a sub-app under
`/xtrakit` (base URL `http://host:port/xtrakit/api/v1`).
"""

from __future__ import annotations

from syncer.sandbox.common.generation import GenerationResult
from syncer.sandbox.xtrakit.app import create_app
from syncer.sandbox.xtrakit.config import DEFAULT_KEY, XtraKitConfig
from syncer.sandbox.xtrakit.data import COLLECTIONS
from syncer.sandbox.xtrakit.ledger import OPERATIONS, AppliedWrite
from syncer.sandbox.xtrakit.state import XTRAKIT_KEY, XtraKitSandbox

__all__ = [
    "COLLECTIONS",
    "DEFAULT_KEY",
    "OPERATIONS",
    "XTRAKIT_KEY",
    "AppliedWrite",
    "GenerationResult",
    "XtraKitConfig",
    "XtraKitSandbox",
    "create_app",
]
