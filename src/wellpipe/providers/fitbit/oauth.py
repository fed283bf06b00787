"""Google's OAuth setup: endpoints from settings, secret in the form body, PKCE, no rotation."""

from __future__ import annotations

import httpx2

from wellpipe.core.ports import Clock
from wellpipe.oauth import ClientCredentials, OAuthClient
from wellpipe.providers.fitbit.info import INFO
from wellpipe.providers.fitbit.settings import FitbitSettings

__all__ = ["fitbit_oauth_client"]


def fitbit_oauth_client(
    *,
    settings: FitbitSettings,
    credentials: ClientCredentials,
    http: httpx2.AsyncClient,
    clock: Clock,
    credentials_hint: str | None = None,
) -> OAuthClient:
    """An `OAuthClient` for Google's authorization server.

    Authorization URLs carry a PKCE S256 challenge, ``access_type=offline`` (for
    a refresh token) and ``prompt=consent`` (so re-consent returns one too).
    Google's refresh tokens do not rotate: a refresh answer without
    ``refresh_token`` keeps the stored one.
    """
    return OAuthClient(
        info=INFO,
        endpoints=settings.oauth_endpoints,
        credentials=credentials,
        http=http,
        clock=clock,
        credentials_hint=credentials_hint
        or "check the client id and secret of your Google Cloud OAuth client",
    )
