"""The HTTP client every provider uses: one TLS context for the process, none for plain HTTP."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx2
import pytest

from wellpipe.net import client as net_client
from wellpipe.net.client import build_http_client, tls_context
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background


@pytest.fixture
def fresh_tls() -> Iterator[None]:
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


@pytest.mark.usefixtures("fresh_tls")
async def test_a_plain_http_origin_never_sets_up_tls() -> None:
    async with (
        serve_in_background(WhoopSandbox(seed=1)) as origin,
        build_http_client(base_url=origin) as http,
    ):
        response = await http.get("/_sandbox")
    assert response.status_code == 200
    assert tls_context.cache_info().currsize == 0  # no CA bundle loaded for http://


@pytest.mark.usefixtures("fresh_tls")
async def test_every_https_client_verifies_with_the_one_context() -> None:
    pools = []
    for _ in range(2):
        async with build_http_client(base_url="https://127.0.0.1:1") as http:
            with pytest.raises(httpx2.ConnectError):
                await http.get("/")  # nothing listens there; the pool is made all the same
            network = http._transport
            assert isinstance(network, net_client._Network)
            pools.append(network._pools["https"])
    assert tls_context.cache_info().currsize == 1
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    for pool in pools:
        assert pool._pool._ssl_context is context
