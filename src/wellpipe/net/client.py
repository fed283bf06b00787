"""How Wellpipe builds HTTP clients: explicit timeouts, its own User-Agent, injectable transport."""

from __future__ import annotations

import httpx2

from wellpipe import __version__

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "build_http_client"]

USER_AGENT = f"wellpipe/{__version__} (+https://wellpipe.io)"
"""Sent on every request. Some provider front-ends block default library user agents."""

DEFAULT_TIMEOUT = httpx2.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


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
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )
