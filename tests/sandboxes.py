"""Actito, Ioto and XtraKit sandboxes served over HTTP for a test, and their tokens.

(Exto's has fixtures of its own in conftest: `sandbox`, `token_env`.) A module fixes its data
sizes once and may still change any knob per test:

    start = partial(sandboxes.actito, profiles=1_200, custom_records=900)
    key = sandboxes.token_fixture(sandboxes.ACTITO_KEY)

    async def test_x(serve: Serve, key: str) -> None:
        url, sb = await start(serve, latency_ms=20)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from syncer.sandbox import actito as actito_sandbox
from syncer.sandbox import ioto as ioto_sandbox
from syncer.sandbox import xtrakit as xtrakit_sandbox
from syncer.sandbox.actito.config import DEFAULT_API_KEY as ACTITO_KEY
from syncer.sandbox.ioto.config import DEFAULT_TOKEN as IOTO_TOKEN
from syncer.sandbox.xtrakit.config import DEFAULT_KEY as XTRAKIT_KEY
from tests.conftest import TOKEN_ENV

__all__ = ["ACTITO_KEY", "IOTO_TOKEN", "XTRAKIT_KEY", "Serve", "actito", "ioto", "xtrakit"]

#: the `serve` fixture: serves an app on 127.0.0.1 for the test, returns its port
Serve = Callable[[web.Application], Awaitable[int]]


async def actito(serve: Serve, **knobs: Any) -> tuple[str, actito_sandbox.ActitoSandbox]:
    """An Actito sandbox of `knobs` (`ActitoConfig`): its base URL and the sandbox."""
    app = actito_sandbox.create_app(actito_sandbox.ActitoConfig(**knobs))
    return f"http://127.0.0.1:{await serve(app)}", app[actito_sandbox.ACTITO_KEY]


async def ioto(serve: Serve, **knobs: Any) -> tuple[str, ioto_sandbox.IotoSandbox]:
    """An Ioto sandbox of `knobs` (`IotoConfig`): its base URL and the sandbox."""
    app = ioto_sandbox.create_app(ioto_sandbox.IotoConfig(**knobs))
    return f"http://127.0.0.1:{await serve(app)}", app[ioto_sandbox.IOTO_KEY]


async def xtrakit(serve: Serve, **knobs: Any) -> tuple[str, xtrakit_sandbox.XtraKitSandbox]:
    """An XtraKit sandbox of `knobs` (`XtraKitConfig`), unthrottled unless `rate_limit` is given:
    its base URL (with `/api/v1`) and the sandbox."""
    config = xtrakit_sandbox.XtraKitConfig(**{"rate_limit": 0, **knobs})
    app = xtrakit_sandbox.create_app(config)
    return f"http://127.0.0.1:{await serve(app)}/api/v1", app[xtrakit_sandbox.XTRAKIT_KEY]


def token_fixture(value: str) -> Any:
    """A fixture that puts `value` in the test connection's token variable and returns it."""

    @pytest.fixture
    def token(monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.setenv(TOKEN_ENV, value)
        return value

    return token
