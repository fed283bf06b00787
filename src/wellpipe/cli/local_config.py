"""The self-hosted CLI's settings: the home folder's ``.env``, overridden by the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.core.errors import ConfigError
from wellpipe.oauth import ClientCredentials

if TYPE_CHECKING:
    from wellpipe.providers.connector import ProviderLocation
    from wellpipe.providers.whoop import WhoopSettings

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "TOKEN_KEY_SUFFIXES",
    "AppKeys",
    "LocalConfig",
    "default_redirect_uri",
]

CALLBACK_ORIGIN = "http://127.0.0.1:8976"
"""Where ``wellpipe auth <name>`` listens by default; the path is ``/callback/<name>``."""


def default_redirect_uri(provider: str) -> str:
    """The loopback callback ``wellpipe auth <provider>`` listens on unless configured otherwise."""
    return f"{CALLBACK_ORIGIN}/callback/{provider}"


DEFAULT_REDIRECT_URI = default_redirect_uri("whoop")
"""The loopback callback ``wellpipe auth whoop`` listens on, unless ``WHOOP_REDIRECT_URI`` says."""


@dataclass(frozen=True)
class AppKeys:
    """The configuration keys of one provider's developer app (``OURA_CLIENT_ID``, ...)."""

    provider: str

    @property
    def client_id(self) -> str:
        """The client id."""
        return f"{self.provider.upper()}_CLIENT_ID"

    @property
    def client_secret(self) -> str:
        """The client secret."""
        return f"{self.provider.upper()}_CLIENT_SECRET"

    @property
    def redirect_uri(self) -> str:
        """The redirect URI registered in the app."""
        return f"{self.provider.upper()}_REDIRECT_URI"

    @property
    def base_url(self) -> str:
        """Where the provider lives instead of its real origin (a sandbox)."""
        return f"WELLPIPE_{self.provider.upper()}_BASE_URL"


TOKEN_KEY_SUFFIXES = (
    "_ACCESS_TOKEN",
    "_REFRESH_TOKEN",
    "_TOKEN_EXPIRES_AT",
    "_TOKEN_SCOPES",
    "_GRANT_ERROR",
    "_GRANTED_AT",
    "_REFRESH_UNANSWERED_AT",
)
"""Keys ending like this are token state: the file wins over the environment for them (R-1.18)."""

BASE_URL_KEY = AppKeys("whoop").base_url


def is_token_key(key: str) -> bool:
    """Whether ``key`` holds token state rather than configuration."""
    return key.endswith(TOKEN_KEY_SUFFIXES)


class LocalConfig:
    """Values merged from the ``.env`` and the process environment.

    For configuration keys the process environment wins (a value in Claude
    Desktop's config overrides the file). For token keys the file wins: tokens
    rotate, and only the file is rewritten when they do.

    Attributes:
        paths: The CLI's files.
    """

    def __init__(
        self, paths: LocalPaths, *, file_values: Mapping[str, str], environ: Mapping[str, str]
    ) -> None:
        self.paths = paths
        self._file = dict(file_values)
        self._environ = dict(environ)

    @classmethod
    def load(cls, paths: LocalPaths, environ: Mapping[str, str] | None = None) -> LocalConfig:
        """Read the ``.env`` (if any) and snapshot ``environ`` (``os.environ`` if ``None``)."""
        env = os.environ if environ is None else environ
        return cls(paths, file_values=EnvFile(paths.env_file).read(), environ=env)

    def get(self, key: str) -> str | None:
        """The value of ``key``, or ``None`` when it is unset or empty in both places."""
        first, second = (
            (self._file, self._environ) if is_token_key(key) else (self._environ, self._file)
        )
        for source in (first, second):
            value = source.get(key, "").strip()
            if value:
                return value
        return None

    def source_of(self, key: str) -> str | None:
        """Where `get` found ``key``: ``"environment"``, ``".env"`` or ``None``."""
        value = self.get(key)
        if value is None:
            return None
        if is_token_key(key):
            return ".env" if self._file.get(key, "").strip() == value else "environment"
        return "environment" if self._environ.get(key, "").strip() == value else ".env"

    def credentials(self, provider: str) -> ClientCredentials:
        """A provider's developer app: client id, secret and redirect URI.

        Raises:
            ConfigError: the client id or secret is missing.
        """
        keys = AppKeys(provider)
        missing = [key for key in (keys.client_id, keys.client_secret) if not self.get(key)]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
                f"(looked in {self.paths.env_file} and the environment); run `wellpipe init` "
                f"to set up your {_display_name(provider)} developer app "
                f"(`wellpipe init --provider {provider}` asks about it alone)."
            )
        return ClientCredentials(
            client_id=self.get(keys.client_id) or "",
            client_secret=self.get(keys.client_secret) or "",
            redirect_uri=self.get(keys.redirect_uri) or default_redirect_uri(provider),
        )

    def is_configured(self, provider: str) -> bool:
        """Whether the provider's client id and secret are both set."""
        keys = AppKeys(provider)
        return bool(self.get(keys.client_id) and self.get(keys.client_secret))

    def location(self, provider: str) -> ProviderLocation:
        """Where a provider lives: ``WELLPIPE_<NAME>_BASE_URL`` (environment, then ``.env``).

        Raises:
            ConfigError: the base URL is not an origin.
            UnknownProviderError: no such provider is installed.
        """
        from wellpipe.providers.connector import get_connector

        key = AppKeys(provider).base_url
        origin = self.get(key)
        connector = get_connector(provider)
        try:
            return connector.location(origin)
        except (ValidationError, ValueError):
            raise ConfigError(
                f"{key}={origin!r} is not an origin such as http://127.0.0.1:8765; "
                f"fix it in {self.paths.env_file} or the environment, or remove it."
            ) from None

    def whoop_credentials(self) -> ClientCredentials:
        """`credentials` for WHOOP."""
        return self.credentials("whoop")

    def whoop_settings(self) -> WhoopSettings:
        """`location` for WHOOP.

        Raises:
            ConfigError: the base URL is not an origin.
        """
        from wellpipe.providers.whoop import WhoopSettings

        settings = self.location("whoop")
        assert isinstance(settings, WhoopSettings)
        return settings


def _display_name(provider: str) -> str:
    from wellpipe.core.errors import UnknownProviderError
    from wellpipe.providers import get_provider_info

    try:
        return get_provider_info(provider).display_name
    except UnknownProviderError:
        return provider
