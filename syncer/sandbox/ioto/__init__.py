"""A local emulator of the EmbedThis Ioto CloudAPI, written from Ioto's documents only.

In a test, served by `aiohttp.test_utils.TestServer`:

    app = create_app(IotoConfig(devices=500))
    sb = app[IOTO_KEY]  # the live IotoSandbox: config knobs, records(), generation(), request_log
    sb.ledger  # list[AppliedWrite]: the writes applied through generic/create, update and remove
"""

from __future__ import annotations

from syncer.sandbox.common.generation import GenerationResult
from syncer.sandbox.ioto.app import create_app
from syncer.sandbox.ioto.config import DEFAULT_ACCOUNT, DEFAULT_TOKEN, IotoConfig
from syncer.sandbox.ioto.ledger import AppliedWrite
from syncer.sandbox.ioto.state import IOTO_KEY, IotoSandbox

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_TOKEN",
    "IOTO_KEY",
    "AppliedWrite",
    "GenerationResult",
    "IotoConfig",
    "IotoSandbox",
    "create_app",
]
