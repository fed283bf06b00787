"""Oura's OAuth setup: consent screen on Oura's cloud site, token endpoint on the API host.

The client secret travels in the form body (Oura accepts it there or as HTTP
Basic). Refresh tokens are single-use: each refresh spends the old one, which
`TokenRefresher` handles (one refresh at a time per account, persisted before use).
"""

from __future__ import annotations

import httpx2

from wellpipe.core.ports import Clock
from wellpipe.oauth import ClientCredentials, OAuthClient
from wellpipe.providers.oura.info import INFO
from wellpipe.providers.oura.settings import OuraSettings

__all__ = ["oura_oauth_client"]


def oura_oauth_client(
    *,
    settings: OuraSettings,
    credentials: ClientCredentials,
    http: httpx2.AsyncClient,
    clock: Clock,
    credentials_hint: str | None = None,
) -> OAuthClient:
    """An `OAuthClient` for Oura's authorization server."""
    return OAuthClient(
        info=INFO,
        endpoints=settings.oauth_endpoints,
        credentials=credentials,
        http=http,
        clock=clock,
        credentials_hint=credentials_hint
        or "check the client id and secret of your Oura API application",
    )
