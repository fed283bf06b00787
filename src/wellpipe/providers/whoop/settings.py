"""Where WHOOP lives. The only place a WHOOP URL is written down."""

from __future__ import annotations

from pydantic import AnyHttpUrl, field_validator

from wellpipe.oauth.client import OAuthEndpoints
from wellpipe.providers.settings import EnvSettings

__all__ = ["DEVELOPER_DASHBOARD", "WhoopSettings"]

DEVELOPER_DASHBOARD = "https://developer-dashboard.whoop.com"
"""Where a WHOOP member creates a developer app (client id, secret, redirect URIs)."""


class WhoopSettings(EnvSettings):
    """WHOOP connection settings, read from ``WELLPIPE_WHOOP_*`` environment variables.

    Attributes:
        base_url: WHOOP's origin. Data paths (``/developer/v2/...``) and OAuth paths
            (``/oauth/oauth2/auth``, ``/oauth/oauth2/token``) hang off it. Point it
            at a `wellpipe sandbox` to run without a WHOOP account.
    """

    env_prefix = "WELLPIPE_WHOOP_"

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.prod.whoop.com")

    @field_validator("base_url")
    @classmethod
    def _origin_only(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.query or value.fragment:
            raise ValueError(
                "WELLPIPE_WHOOP_BASE_URL must be an origin like https://api.prod.whoop.com"
            )
        return value

    @classmethod
    def for_origin(cls, origin: str) -> WhoopSettings:
        """Settings pointing at ``origin`` (a sandbox, say), whatever the environment says."""
        return cls(base_url=AnyHttpUrl(origin))

    @property
    def origin(self) -> str:
        """The base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")

    @property
    def oauth_endpoints(self) -> OAuthEndpoints:
        """WHOOP's authorize and token URLs."""
        return OAuthEndpoints(
            authorize_url=f"{self.origin}/oauth/oauth2/auth",
            token_url=f"{self.origin}/oauth/oauth2/token",
        )
