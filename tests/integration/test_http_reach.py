"""A vendor that never answered is a configuration mistake; one that answered and is then
lost is weather. Real HTTP against the sandbox."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from syncer import errors
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.sandbox.exto import ExtoConfig, create_app
from tests.conftest import TOKEN, exto_config


async def test_a_vendor_lost_after_it_answered_is_retried() -> None:
    server = TestServer(create_app(ExtoConfig(master_records=50, rate_limit=0)))
    await server.start_server()
    conn = exto_config(f"http://127.0.0.1:{server.port}/data", max_attempts=2).connections[0]
    spec = CONNECTORS["exto"].stream("master:LOCATION", {})
    async with VendorClient(conn, CONNECTORS["exto"], TOKEN) as client:
        await client.send(spec.page(spec.params, spec.first(), 10), what="page 1")
        await server.close()
        with pytest.raises(errors.RetriableVendorError, match="ClientConnectorError"):
            await client.send(spec.page(spec.params, 2, 10), what="page 2")


async def test_a_vendor_that_never_answered_names_base_url() -> None:
    conn = exto_config("http://127.0.0.1:9/data").connections[0]
    spec = CONNECTORS["exto"].stream("master:LOCATION", {})
    async with VendorClient(conn, CONNECTORS["exto"], TOKEN) as client:
        with pytest.raises(errors.ConfigError, match=r"cannot reach http://127\.0\.0\.1:9/data"):
            await client.send(spec.page(spec.params, spec.first(), 10), what="page 1")


async def test_a_host_name_that_does_not_resolve_says_so() -> None:
    conn = exto_config("https://nosuchhost.invalid/data").connections[0]
    spec = CONNECTORS["exto"].stream("master:LOCATION", {})
    async with VendorClient(conn, CONNECTORS["exto"], TOKEN) as client:
        with pytest.raises(errors.ConfigError, match=r"'nosuchhost\.invalid' does not resolve"):
            await client.send(spec.page(spec.params, spec.first(), 10), what="page 1")


def test_aiohttp_still_tells_dns_failures_apart() -> None:
    # the message above relies on it (aiohttp >= 3.10)
    assert issubclass(aiohttp.ClientConnectorDNSError, aiohttp.ClientConnectorError)
