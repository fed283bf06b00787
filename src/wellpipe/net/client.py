"""How Wellpipe builds HTTP clients: explicit timeouts, its own User-Agent, injectable transport."""

from __future__ import annotations

import functools
import ssl

import httpx2

from wellpipe import __version__

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "build_http_client", "tls_context"]

USER_AGENT = f"wellpipe/{__version__} (+https://wellpipe.io)"
"""Sent on every request. Some provider front-ends block default library user agents."""

DEFAULT_TIMEOUT = httpx2.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one verifying TLS context (certificates checked, as httpx2 would).

    Loading the CA bundle takes about 60 ms; every provider client (and the
    OAuth clients) shares this one instead of loading it again.
    """
    return httpx2.create_ssl_context()


class _Network(httpx2.AsyncBaseTransport):
    """The network, one connection pool per scheme, each made on its first request.

    An ``https`` pool verifies with `tls_context`; a plain ``http`` origin (a
    sandbox on loopback) never pays for setting up TLS it does not use.
    """

    def __init__(self) -> None:
        self._pools: dict[str, httpx2.AsyncHTTPTransport] = {}

    def _pool(self, scheme: str) -> httpx2.AsyncHTTPTransport:
        if scheme not in self._pools:
            verify: ssl.SSLContext | bool = tls_context() if scheme == "https" else False
            self._pools[scheme] = httpx2.AsyncHTTPTransport(verify=verify)
        return self._pools[scheme]

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` through the pool of its scheme."""
        return await self._pool(request.url.scheme).handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool that was made."""
        for pool in self._pools.values():
            await pool.aclose()


def build_http_client(
    *,
    base_url: str,
    transport: httpx2.AsyncBaseTransport | None = None,
    timeout: httpx2.Timeout = DEFAULT_TIMEOUT,
) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` for one provider origin.

    Args:
        base_url: The provider's origin (scheme, host and port).
        transport: Replaces the network, e.g. ``httpx2.ASGITransport(sandbox)`` in
            tests and demos.
        timeout: Connect/read/write/pool timeouts.
    """
    return httpx2.AsyncClient(
        base_url=base_url,
        transport=transport or _Network(),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )
