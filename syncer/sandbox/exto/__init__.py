"""A local emulator of the Exto Data API, written from Exto's documents (docs/sandbox.md).

In a test, served by `aiohttp.test_utils.TestServer`:

    app = create_app(ExtoConfig(master_records=1_000))
    sb = app[EXTO_KEY]  # the live ExtoSandbox: config knobs, records(), generation(), request_log,
                        # ledger (the writes applied)
"""

from __future__ import annotations

from syncer.sandbox.common.generation import GenerationResult
from syncer.sandbox.common.requestlog import RequestLogEntry
from syncer.sandbox.exto.app import create_app, install, serve
from syncer.sandbox.exto.config import DEFAULT_MASTER, DEFAULT_MODULE, DEFAULT_TOKEN, ExtoConfig
from syncer.sandbox.exto.ledger import AppliedWrite
from syncer.sandbox.exto.poison_corpus import CorpusEntry
from syncer.sandbox.exto.state import EXTO_KEY, ExtoSandbox

__all__ = [
    "DEFAULT_MASTER",
    "DEFAULT_MODULE",
    "DEFAULT_TOKEN",
    "EXTO_KEY",
    "AppliedWrite",
    "CorpusEntry",
    "ExtoConfig",
    "ExtoSandbox",
    "GenerationResult",
    "RequestLogEntry",
    "create_app",
    "install",
    "serve",
]
