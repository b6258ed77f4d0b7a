"""A local emulator of the Exto Data API, written from Exto's documents (see docs/sandbox.md).

In a test, served by `aiohttp.test_utils.TestServer`:

    app = create_app(SandboxConfig(master_records=1_000))
    sb = app[SANDBOX_KEY]  # the live Sandbox: config knobs, records(), generation(), request_log

From the command line: `syncer sandbox` (which calls `serve`).
"""

from __future__ import annotations

from syncer.sandbox.app import create_app, serve
from syncer.sandbox.config import DEFAULT_MASTER, DEFAULT_MODULE, DEFAULT_TOKEN, SandboxConfig
from syncer.sandbox.data import GenerationResult
from syncer.sandbox.poison_corpus import CorpusEntry
from syncer.sandbox.state import SANDBOX_KEY, RequestLogEntry, Sandbox

__all__ = [
    "DEFAULT_MASTER",
    "DEFAULT_MODULE",
    "DEFAULT_TOKEN",
    "SANDBOX_KEY",
    "CorpusEntry",
    "GenerationResult",
    "RequestLogEntry",
    "Sandbox",
    "SandboxConfig",
    "create_app",
    "serve",
]
