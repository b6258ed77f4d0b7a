"""The root app: `create_all` puts the four vendors' sandboxes on one empty aiohttp app, which
`serve_app` serves (`syncer sandbox`).

Exto at `/data` (control routes at `/_sandbox`), Actito under `/actito`, XtraKit under `/xtrakit`
(base URL `/xtrakit/api/v1`), Ioto under `/ioto`; each of the three keeps its control routes
under its own prefix.
"""

from __future__ import annotations

from aiohttp import web

from syncer.sandbox import actito, exto, ioto, xtrakit
from syncer.sandbox.common.serve import serve_app
from syncer.sandbox.exto.app import CLIENT_MAX_SIZE, HANDLER_ARGS

__all__ = ["create_all", "serve_app"]


def create_all(
    exto_config: exto.ExtoConfig | None = None,
    actito_config: actito.ActitoConfig | None = None,
    xtrakit_config: xtrakit.XtraKitConfig | None = None,
    ioto_config: ioto.IotoConfig | None = None,
) -> web.Application:
    """One app for the four vendors, each with its own auth, limits, data and control routes."""
    root = web.Application(client_max_size=CLIENT_MAX_SIZE, handler_args=HANDLER_ARGS)
    exto.install(root, exto_config)
    root.add_subapp("/actito", actito.create_app(actito_config))
    root.add_subapp("/xtrakit", xtrakit.create_app(xtrakit_config))
    root.add_subapp("/ioto", ioto.create_app(ioto_config))
    return root
