"""syncer: async bulk data sync between vendor REST APIs and a Postgres mirror."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
