"""Where Google Health lives. The only place a Google Health or Google OAuth URL is written down."""

from __future__ import annotations

from pydantic import AnyHttpUrl, field_validator

from wellpipe.oauth.client import OAuthEndpoints
from wellpipe.providers.settings import EnvSettings

__all__ = ["DEVELOPER_CONSOLE", "SCOPE_PREFIX", "FitbitSettings"]

DEVELOPER_CONSOLE = "https://console.cloud.google.com/apis/credentials"
"""Where a user creates their Google Cloud OAuth client (client id, secret, redirect URIs)."""

SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth."
"""Google Health's scopes are full URLs; every one starts with this."""


def _origin_only(value: AnyHttpUrl, name: str) -> AnyHttpUrl:
    if value.query or value.fragment or (value.path not in (None, "", "/")):
        raise ValueError(f"{name} must be an origin like https://health.googleapis.com")
    return value


class FitbitSettings(EnvSettings):
    """Google Health connection settings, read from ``WELLPIPE_FITBIT_*`` environment variables.

    Google splits its service over three origins; `for_origin` points all three
    at one (a `wellpipe sandbox`, say).

    Attributes:
        base_url: The Google Health API (``/v4/users/me/...``).
        auth_url: Google's authorization server (``/o/oauth2/v2/auth``).
        token_url: Google's token server (``/token`` and ``/revoke``).
    """

    env_prefix = "WELLPIPE_FITBIT_"

    base_url: AnyHttpUrl = AnyHttpUrl("https://health.googleapis.com")
    auth_url: AnyHttpUrl = AnyHttpUrl("https://accounts.google.com")
    token_url: AnyHttpUrl = AnyHttpUrl("https://oauth2.googleapis.com")

    @field_validator("base_url")
    @classmethod
    def _base_origin(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _origin_only(value, "WELLPIPE_FITBIT_BASE_URL")

    @field_validator("auth_url")
    @classmethod
    def _auth_origin(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _origin_only(value, "WELLPIPE_FITBIT_AUTH_URL")

    @field_validator("token_url")
    @classmethod
    def _token_origin(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _origin_only(value, "WELLPIPE_FITBIT_TOKEN_URL")

    @classmethod
    def for_origin(cls, origin: str) -> FitbitSettings:
        """Settings pointing every URL at ``origin`` (a sandbox), whatever the environment says."""
        url = AnyHttpUrl(origin)
        return cls(base_url=url, auth_url=url, token_url=url)

    @property
    def origin(self) -> str:
        """The API's base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")

    @property
    def token_origin(self) -> str:
        """The token server's base URL without a trailing slash."""
        return str(self.token_url).rstrip("/")

    @property
    def revoke_url(self) -> str:
        """Where a token is revoked (``POST`` with form field ``token``)."""
        return f"{self.token_origin}/revoke"

    @property
    def oauth_endpoints(self) -> OAuthEndpoints:
        """Google's authorize and token URLs."""
        return OAuthEndpoints(
            authorize_url=f"{str(self.auth_url).rstrip('/')}/o/oauth2/v2/auth",
            token_url=f"{self.token_origin}/token",
        )
