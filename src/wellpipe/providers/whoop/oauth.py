"""WHOOP's OAuth setup: endpoints from settings, secret in the form body, ``offline`` on refresh."""

from __future__ import annotations

import httpx2

from wellpipe.core.ports import Clock
from wellpipe.oauth import ClientCredentials, OAuthClient
from wellpipe.providers.whoop.info import INFO
from wellpipe.providers.whoop.settings import WhoopSettings

__all__ = ["whoop_oauth_client"]


def whoop_oauth_client(
    *,
    settings: WhoopSettings,
    credentials: ClientCredentials,
    http: httpx2.AsyncClient,
    clock: Clock,
    credentials_hint: str | None = None,
) -> OAuthClient:
    """An `OAuthClient` for WHOOP's authorization server."""
    return OAuthClient(
        info=INFO,
        endpoints=settings.oauth_endpoints,
        credentials=credentials,
        http=http,
        clock=clock,
        refresh_scope="offline",
        credentials_hint=credentials_hint
        or "check the client id and secret of your WHOOP developer app",
    )
