"""Where Oura lives. The only place an Oura URL is written down."""

from __future__ import annotations

from pydantic import AnyHttpUrl, field_validator

from wellpipe.oauth.client import OAuthEndpoints
from wellpipe.providers.settings import EnvSettings

__all__ = ["DEVELOPER_PORTAL", "OuraSettings"]

DEVELOPER_PORTAL = "https://cloud.ouraring.com/oauth/applications"
"""Where an Oura member creates an API application (client id, secret, redirect URIs)."""


def _origin_only(name: str, example: str, value: AnyHttpUrl) -> AnyHttpUrl:
    if value.query or value.fragment:
        raise ValueError(f"{name} must be an origin like {example}")
    return value


class OuraSettings(EnvSettings):
    """Oura connection settings, read from ``WELLPIPE_OURA_*`` environment variables.

    Attributes:
        base_url: Oura's API origin. Data paths (``/v2/usercollection/...``), the
            token endpoint (``/oauth/token``) and the revoke endpoint
            (``/oauth/revoke``) hang off it.
        auth_url: The origin of Oura's consent screen (``/oauth/authorize``), which
            Oura serves from its cloud site rather than the API host.

    Point both at a `wellpipe sandbox` (`for_origin`) to run without an Oura account.
    """

    env_prefix = "WELLPIPE_OURA_"

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.ouraring.com")
    auth_url: AnyHttpUrl = AnyHttpUrl("https://cloud.ouraring.com")

    @field_validator("base_url")
    @classmethod
    def _base_origin_only(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _origin_only("WELLPIPE_OURA_BASE_URL", "https://api.ouraring.com", value)

    @field_validator("auth_url")
    @classmethod
    def _auth_origin_only(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _origin_only("WELLPIPE_OURA_AUTH_URL", "https://cloud.ouraring.com", value)

    @classmethod
    def for_origin(cls, origin: str) -> OuraSettings:
        """Every Oura URL at ``origin`` (a sandbox, say), whatever the environment says."""
        return cls(base_url=AnyHttpUrl(origin), auth_url=AnyHttpUrl(origin))

    @property
    def origin(self) -> str:
        """The API base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")

    @property
    def auth_origin(self) -> str:
        """The consent screen's origin without a trailing slash."""
        return str(self.auth_url).rstrip("/")

    @property
    def oauth_endpoints(self) -> OAuthEndpoints:
        """Oura's authorize and token URLs."""
        return OAuthEndpoints(
            authorize_url=f"{self.auth_origin}/oauth/authorize",
            token_url=f"{self.origin}/oauth/token",
        )

    @property
    def revoke_url(self) -> str:
        """Oura's token revocation URL (``?access_token=...``; see `OuraClient.revoke_token`)."""
        return f"{self.origin}/oauth/revoke"
