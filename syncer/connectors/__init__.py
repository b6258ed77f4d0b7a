"""The registry of vendors: one line per connector module."""

from __future__ import annotations

from syncer.connectors import exto
from syncer.models import Connector

CONNECTORS: dict[str, Connector] = {"exto": exto.connector}
