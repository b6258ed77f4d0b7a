"""`syncer check`'s work: per connection, the vendor's readiness probe and one request with the
token, each sent once (never retried: a check answers now, or says why not)."""

from __future__ import annotations

from dataclasses import dataclass

from syncer import errors, log
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.settings import Config, ConnectionConfig


@dataclass(frozen=True)
class Probe:
    """How one connection answered."""

    connection: str
    #: ready, NOT READY, no probe (the vendor has none), not probed (no token)
    readiness: str
    #: "token accepted", or why not (scrubbed)
    said: str
    exit_code: errors.ExitCode


async def check(config: Config) -> list[Probe]:
    """Probe every connection of `config`, one after the other."""
    probes = []
    for conn in config.connections:
        try:
            probes.append(await _probe(conn))
        except errors.SyncerError as exc:
            probes.append(Probe(conn.name, "not probed", exc.message, exc.exit_code))
    return probes


async def _probe(conn: ConnectionConfig) -> Probe:
    connector = CONNECTORS[conn.vendor]
    token = conn.token().get_secret_value()
    log.register_secret(token)
    async with VendorClient(conn, connector, token) as client:
        ready = await client.readiness()
        readiness = {True: "ready", False: "NOT READY", None: "no probe"}[ready]
        spec = connector.stream(conn.streams[0], conn.options)
        try:
            await client.send(
                spec.page(spec.params, spec.first(), 1),
                what=f"token probe on {spec.name}",
                once=True,
            )
        except errors.SyncerError as exc:
            return Probe(conn.name, readiness, log.scrub(exc.message), exc.exit_code)
    code = errors.ExitCode.TRANSIENT if ready is False else errors.ExitCode.OK
    return Probe(conn.name, readiness, "token accepted", code)
