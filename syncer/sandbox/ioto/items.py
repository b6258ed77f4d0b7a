"""Deterministic Ioto items — devices, store entries, logs — and their changed versions.

Every value comes from a `random.Random` the caller seeds and from millisecond instants the caller
picks; nothing reads the wall clock. Field names follow the cloud schema and vendors.md §5.3.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from syncer.sandbox.ioto.models import Item

DAY_MS = 86_400_000
#: base items are created between these instants
BASE_START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
BASE_END_MS = int(datetime(2025, 6, 30, tzinfo=UTC).timestamp() * 1000)
#: Crockford base 32, the ULID alphabet
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    """`2025-03-01T10:00:00.000Z` for a Unix time in milliseconds."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ulid(ms: int, rng: random.Random) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, 26 Crockford characters."""
    return _base32(ms, 10) + _base32(rng.getrandbits(80), 16)


def _base32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def claim_id(rng: random.Random, taken: Container[str]) -> str:
    """A 10-character claim ID (`M72DANY8BZ`) not in `taken`."""
    while True:
        candidate = "".join(rng.choice(CLAIM_CHARS) for _ in range(10))
        if candidate not in taken:
            return candidate


@dataclass(frozen=True)
class Product:
    id: str
    token: str
    model: str


_PRODUCT_MODELS = ("EcoSense T1", "EcoSense T2", "AquaMeter 300", "GridWatch Mini")
_STATES = ("ready", "ready", "ready", "provisioned", "registered")
_ADJECTIVES = ("north", "south", "lobby", "roof", "basement", "lab", "yard", "plant")
_LOG_MESSAGES = (
    ("info", "Device connected"),
    ("info", "Device disconnected"),
    ("info", "Configuration applied"),
    ("info", "Firmware update available"),
    ("warn", "Sensor reading out of range"),
    ("warn", "Battery low"),
    ("error", "Watchdog reset"),
    ("error", "Cloud sync failed, will retry"),
)
_MODULES = ("net", "sensor", "power", "sync", "update")

ValueMaker = Callable[[random.Random], Any]

#: store keys: base name -> (type, value generator)
STORE_KEYS: dict[str, tuple[str, ValueMaker]] = {
    "counter": ("number", lambda r: r.randrange(10_000)),
    "temperature": ("number", lambda r: round(r.uniform(-10, 45), 1)),
    "humidity": ("number", lambda r: r.randrange(10, 100)),
    "battery": ("number", lambda r: r.randrange(101)),
    "uptime": ("number", lambda r: r.randrange(10_000_000)),
    "rssi": ("number", lambda r: -r.randrange(30, 100)),
    "firmware": ("string", lambda r: f"1.{r.randrange(10)}.{r.randrange(20)}"),
    "mode": ("string", lambda r: r.choice(("auto", "eco", "manual", "off"))),
    "status": ("string", lambda r: r.choice(("ok", "degraded", "fault"))),
    "enabled": ("boolean", lambda r: r.random() < 0.7),
    "alarm": ("boolean", lambda r: r.random() < 0.1),
    "config": (
        "object",
        lambda r: {"interval": r.choice((30, 60, 300)), "units": r.choice(("C", "F"))},
    ),
    "location": (
        "object",
        lambda r: {"lat": round(r.uniform(-60, 70), 5), "lon": round(r.uniform(-180, 180), 5)},
    ),
}


class ItemFactory:
    """Makes the items of one account; products are fixed by the seed."""

    def __init__(self, seed: int, account_id: str) -> None:
        self.account_id = account_id
        rng = random.Random(f"{seed}:ioto:products")
        self.products = tuple(
            Product(ulid(BASE_START_MS - DAY_MS * (i + 1), rng), ulid(BASE_START_MS, rng), name)
            for i, name in enumerate(_PRODUCT_MODELS)
        )

    def device(self, rng: random.Random, device_id: str, created: int, updated: int) -> Item:
        product = rng.choice(self.products)
        place = rng.choice(_ADJECTIVES)
        return {
            "id": device_id,
            "accountId": self.account_id,
            "product": product.token,
            "productId": product.id,
            "model": product.model,
            "name": f"{product.model} {place} {device_id[:4].lower()}",
            "description": f"{product.model} in the {place} area",
            "connection": "online" if rng.random() < 0.6 else "offline",
            "state": rng.choice(_STATES),
            "test": rng.random() < 0.05,
            "version": f"1.{rng.randrange(6)}.{rng.randrange(20)}",
            "created": iso(created),
            "accessed": iso(max(updated, min(BASE_END_MS, updated + rng.randrange(7 * DAY_MS)))),
            "updated": iso(updated),
        }

    def changed_device(self, rng: random.Random, item: Item, at: int) -> Item:
        major, minor, patch = (int(part) for part in item["version"].split("."))
        return item | {
            "connection": "offline" if item["connection"] == "online" else "online",
            "state": rng.choice(_STATES),
            "version": f"{major}.{minor}.{patch + 1}",
            "accessed": iso(at),
            "updated": iso(at),
        }

    def store(self, rng: random.Random, device_id: str, key: str, updated: int) -> Item:
        kind, make = STORE_KEYS[key.partition(".")[0]]
        return {
            "accountId": self.account_id,
            "deviceId": device_id,
            "key": key,
            "value": make(rng),
            "type": kind,
            "updated": iso(updated),
            "expires": None,
        }

    def changed_store(self, rng: random.Random, item: Item, at: int) -> Item:
        kind, make = STORE_KEYS[item["key"].partition(".")[0]]
        value = make(rng)
        for _ in range(5):
            if value != item["value"]:
                break
            value = make(rng)
        if kind == "boolean":
            value = not item["value"]
        return item | {"value": value, "updated": iso(at)}

    def log(self, rng: random.Random, device_id: str, log_id: str, created: int) -> Item:
        level, message = rng.choice(_LOG_MESSAGES)
        return {
            "id": log_id,
            "accountId": self.account_id,
            "deviceId": device_id,
            "message": message,
            "context": {
                "level": level,
                "module": rng.choice(_MODULES),
                "code": rng.randrange(1000),
            },
            "created": iso(created),
            "updated": iso(created),
            "expires": None,
        }

    def changed_log(self, rng: random.Random, item: Item, at: int) -> Item:
        level, message = rng.choice(_LOG_MESSAGES)
        context = item["context"] | {"level": level, "acknowledged": True}
        return item | {"message": message, "context": context, "updated": iso(at)}


def store_key(rng: random.Random, taken: Container[str]) -> str:
    """A store key not in `taken`: a base name, else `<name>.<n>` for the first free n >= 2."""
    base = rng.choice(tuple(STORE_KEYS))
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}.{n}"
    return key
