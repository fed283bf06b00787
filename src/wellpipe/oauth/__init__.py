"""Provider-agnostic OAuth 2.0 client: authorization code, refresh, self-refreshing bearer auth."""

from wellpipe.oauth.auth import RefreshingAuth
from wellpipe.oauth.client import (
    ClientCredentials,
    InvalidGrant,
    OAuthClient,
    OAuthEndpoints,
    PkcePair,
    new_pkce,
)
from wellpipe.oauth.refresh import TokenRefresher

__all__ = [
    "ClientCredentials",
    "InvalidGrant",
    "OAuthClient",
    "OAuthEndpoints",
    "PkcePair",
    "RefreshingAuth",
    "TokenRefresher",
    "new_pkce",
]
