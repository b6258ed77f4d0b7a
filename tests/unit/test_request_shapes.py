"""What goes on the wire, per vendor, and what a broken connection does to a request: narrow
unit tests with aiohttp's client mocked (aioresponses), for cases the sandbox cannot reach
cheaply (exact request shapes, resets, timeouts). Every expectation is a documented fact
(vendors.md, its source in brackets) or the documented assumption syncer makes ([A]).
Everything else is tested against the real sandbox over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from syncer import errors
from syncer.connectors.registry import CONNECTORS
from syncer.http import VendorClient
from syncer.models import Request
from syncer.settings import ConnectionConfig

TOKEN = "t0ken-under-test"


@pytest.fixture
def wire() -> Iterator[aioresponses]:
    with aioresponses() as mocked:
        yield mocked


def connection(vendor: str, base_url: str, **extra: Any) -> ConnectionConfig:
    return ConnectionConfig.model_validate(
        {
            "name": vendor,
            "vendor": vendor,
            "base_url": base_url,
            "token_env": "UNUSED_TOKEN_ENV",
            "rate_limit": 1000,
            "max_attempts": 3,
            "streams": ["x"],
            **extra,
        }
    )


def sent(wire: aioresponses, method: str, url: str) -> list[RequestCall]:
    """The calls made to `url` (any query), in order."""
    calls: list[RequestCall] = []
    for (verb, address), found in wire.requests.items():
        if verb == method and str(address).split("?")[0] == url:
            calls.extend(found)
    return calls


def query(call: RequestCall) -> dict[str, str]:
    """The query parameters the client passed (as aiohttp's `params`)."""
    return {k: str(v) for k, v in (call.kwargs.get("params") or {}).items()}


def anywhere(url: str) -> re.Pattern[str]:
    return re.compile(re.escape(url) + r"(\?.*)?$")


async def first_page(vendor: str, base: str, stream: str, **options: str) -> Any:
    conn = connection(vendor, base, options=options)
    connector = CONNECTORS[vendor]
    spec = connector.stream(stream, conn.options)
    async with VendorClient(conn, connector, TOKEN) as client:
        return await client.send(spec.page(spec.params, spec.first(), 1000), what="page 1")


async def test_exto_reads_a_page_with_a_bearer_token_page_size_and_sort(
    wire: aioresponses,
) -> None:
    base = "https://exto.example/data"
    url = f"{base}/api/v1/master-record/LOCATION"
    wire.get(anywhere(url), payload={"rows": [], "total": 0, "page": 1, "totalPages": 0})
    await first_page("exto", base, "master:LOCATION")
    [call] = sent(wire, "GET", url)
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"  # [S-000][E7]
    params = query(call)
    assert params["page"] == "1" and params["pageSize"] == "1000"  # [E10]
    assert params["sort"]  # [A] an explicit order, or offsets shift


async def test_actito_buys_a_token_with_the_raw_key_then_sends_it_as_bearer(
    wire: aioresponses,
) -> None:
    base = "https://actito.example"
    wire.get(anywhere(f"{base}/auth/token"), payload={"accessToken": "bought-1", "expiresIn": 900})
    tables = f"{base}/v5/entities/acme/profile-tables/customers/profiles"
    wire.get(anywhere(tables), payload={"profiles": [], "totalCount": 0})
    await first_page("actito", base, "profiles:customers", entity="acme")
    [exchange] = sent(wire, "GET", f"{base}/auth/token")
    assert exchange.kwargs["headers"]["Authorization"] == TOKEN  # raw key, no scheme [S-002]
    [read] = sent(wire, "GET", tables)
    assert read.kwargs["headers"]["Authorization"] == "Bearer bought-1"  # [S-002][A1]
    assert query(read)["limit"] == "1000"  # v5 list paging, 1..1000 [A]


async def test_xtrakit_sends_its_key_as_bearer_and_asks_for_pages(wire: aioresponses) -> None:
    base = "https://xtrakit.example/api/v1"
    url = f"{base}/customers"
    wire.get(anywhere(url), payload={"status": True, "data": {"customers": []}})
    await first_page("xtrakit", base, "customers")
    [call] = sent(wire, "GET", url)
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"  # [S-003][X1]
    assert query(call)["page"] == "1"  # [A] Laravel-style paging: a guess (docs say so)


async def test_ioto_sends_the_bare_token_and_a_find_body(wire: aioresponses) -> None:
    base = "https://ioto.example"
    url = f"{base}/tok/device/find"
    wire.post(anywhere(url), payload={"data": []})
    await first_page("ioto", base, "devices", account_id="01ACCOUNT")
    [call] = sent(wire, "POST", url)
    assert call.kwargs["headers"]["Authorization"] == TOKEN  # no scheme [S-004][I1]
    assert call.kwargs["json"]["accountId"] == "01ACCOUNT"  # [I4]


async def test_a_reset_connection_is_retried_and_the_next_answer_used(
    wire: aioresponses,
) -> None:
    base = "https://exto.example/data"
    url = f"{base}/api/v1/master-record/LOCATION"
    # answered in the order registered: the reset first, then the page
    wire.get(anywhere(url), exception=aiohttp.ServerDisconnectedError())
    wire.get(anywhere(url), payload={"rows": [], "total": 0, "page": 1, "totalPages": 0})
    rows, _ = await first_page("exto", base, "master:LOCATION")
    assert rows["rows"] == [] and len(sent(wire, "GET", url)) == 2


async def test_a_timeout_is_retried_until_the_attempts_run_out(wire: aioresponses) -> None:
    base = "https://exto.example/data"
    url = f"{base}/api/v1/master-record/LOCATION"
    wire.get(anywhere(url), exception=TimeoutError(), repeat=True)
    with pytest.raises(errors.RetriableVendorError, match="no answer within"):
        await first_page("exto", base, "master:LOCATION")
    assert len(sent(wire, "GET", url)) == 3  # max_attempts


async def test_a_write_that_may_have_landed_is_never_resent_blindly(wire: aioresponses) -> None:
    """A timeout on a write that is not idempotent raises at once: the caller reads back
    before anything is sent again."""
    base = "https://exto.example/data"
    url = f"{base}/api/v1/master-record/LOCATION"
    wire.post(anywhere(url), exception=TimeoutError(), repeat=True)
    conn = connection("exto", base)
    write = Request("/api/v1/master-record/LOCATION", method="POST", json=[{"name": "a"}])
    async with VendorClient(conn, CONNECTORS["exto"], TOKEN) as client:
        with pytest.raises(errors.RetriableVendorError):
            await client.send(write, what="upsert", retry_ambiguous=False)
    [call] = sent(wire, "POST", url)
    assert orjson.loads(orjson.dumps(call.kwargs["json"])) == [{"name": "a"}]
