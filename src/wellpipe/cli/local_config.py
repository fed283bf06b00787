"""The self-hosted CLI's settings: the home folder's ``.env``, overridden by the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import ValidationError

from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.core.errors import ConfigError
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.whoop import WhoopSettings

__all__ = ["DEFAULT_REDIRECT_URI", "TOKEN_KEY_SUFFIXES", "LocalConfig"]

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback/whoop"
"""The loopback callback ``wellpipe auth whoop`` listens on, unless ``WHOOP_REDIRECT_URI`` says."""

TOKEN_KEY_SUFFIXES = (
    "_ACCESS_TOKEN",
    "_REFRESH_TOKEN",
    "_TOKEN_EXPIRES_AT",
    "_TOKEN_SCOPES",
    "_GRANT_ERROR",
)
"""Keys ending like this are token state: the file wins over the environment for them (R-1.18)."""

BASE_URL_KEY = "WELLPIPE_WHOOP_BASE_URL"


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

    def whoop_credentials(self) -> ClientCredentials:
        """The WHOOP developer app: client id, secret and redirect URI.

        Raises:
            ConfigError: the client id or secret is missing.
        """
        missing = [key for key in ("WHOOP_CLIENT_ID", "WHOOP_CLIENT_SECRET") if not self.get(key)]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
                f"(looked in {self.paths.env_file} and the environment); "
                "run `wellpipe init` to set up your WHOOP developer app."
            )
        return ClientCredentials(
            client_id=self.get("WHOOP_CLIENT_ID") or "",
            client_secret=self.get("WHOOP_CLIENT_SECRET") or "",
            redirect_uri=self.get("WHOOP_REDIRECT_URI") or DEFAULT_REDIRECT_URI,
        )

    def whoop_settings(self) -> WhoopSettings:
        """Where WHOOP lives: ``WELLPIPE_WHOOP_BASE_URL`` (environment, then ``.env``) or WHOOP.

        Raises:
            ConfigError: the base URL is not an origin.
        """
        origin = self.get(BASE_URL_KEY)
        if origin is None:
            return WhoopSettings()
        try:
            return WhoopSettings.for_origin(origin)
        except ValidationError:
            raise ConfigError(
                f"{BASE_URL_KEY}={origin!r} is not an origin such as http://127.0.0.1:8765; "
                f"fix it in {self.paths.env_file} or the environment, or remove it."
            ) from None
