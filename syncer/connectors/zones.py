"""The time zone of timestamps a vendor writes without an offset (Actito's moments, XtraKit's
Laravel stamps): the connection's `options.time_zone`, an IANA name, UTC when unset. Neither
vendor documents one (docs/vendors/actito.md, xtrakit.md "Typed views"), and both sandboxes
write UTC; a real account set to another zone says so in the config."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncer import errors

OPTION = "time_zone"


def time_zone(options: Mapping[str, str] | None, vendor: str) -> str:
    """The zone named by `options.time_zone` (UTC by default); a ConfigError when it is not an
    IANA zone name."""
    name = (options or {}).get(OPTION, "UTC").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.ConfigError(
            f"{vendor} option time_zone {name!r} is not an IANA time zone name (e.g. UTC, "
            "Europe/Brussels)"
        ) from None
    return name
