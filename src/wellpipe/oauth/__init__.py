"""Provider-agnostic OAuth 2.0 client: authorization code, refresh, and bearer auth that refreshes."""

from wellpipe.oauth.auth import RefreshingAuth
from wellpipe.oauth.client import ClientCredentials, InvalidGrant, OAuthClient, OAuthEndpoints
from wellpipe.oauth.refresh import TokenRefresher

__all__ = [
    "ClientCredentials",
    "InvalidGrant",
    "OAuthClient",
    "OAuthEndpoints",
    "RefreshingAuth",
    "TokenRefresher",
]
