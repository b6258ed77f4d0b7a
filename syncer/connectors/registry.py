"""The registry of vendors: one line per connector module."""

from __future__ import annotations

from syncer.connectors import actito, exto, ioto, xtrakit
from syncer.models import Connector

CONNECTORS: dict[str, Connector] = {
    "exto": exto.connector,
    "actito": actito.connector,
    "xtrakit": xtrakit.connector,
    "ioto": ioto.connector,
}
