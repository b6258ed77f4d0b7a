"""A local emulator of the Actito API, written from Actito's documents (docs/vendors/actito.md).

In a test, served by `aiohttp.test_utils.TestServer`:

    app = create_app(ActitoConfig(profiles=1_000), clock=fake_clock)
    sb = app[ACTITO_KEY]  # the live ActitoSandbox: config knobs, records(), generation(), log,
                          # ledger (the writes applied)
"""

from __future__ import annotations

from syncer.sandbox.actito.app import create_app
from syncer.sandbox.actito.config import (
    DEFAULT_API_KEY,
    DEFAULT_CUSTOM_TABLE,
    DEFAULT_ENTITY,
    DEFAULT_PROFILE_TABLE,
    ActitoConfig,
)
from syncer.sandbox.actito.ledger import AppliedWrite
from syncer.sandbox.actito.state import ACTITO_KEY, ActitoSandbox
from syncer.sandbox.common.generation import GenerationResult
from syncer.sandbox.common.requestlog import RequestLogEntry

__all__ = [
    "ACTITO_KEY",
    "DEFAULT_API_KEY",
    "DEFAULT_CUSTOM_TABLE",
    "DEFAULT_ENTITY",
    "DEFAULT_PROFILE_TABLE",
    "ActitoConfig",
    "ActitoSandbox",
    "AppliedWrite",
    "GenerationResult",
    "RequestLogEntry",
    "create_app",
]
