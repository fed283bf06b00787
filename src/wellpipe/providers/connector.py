"""How the CLI and the cloud reach any provider without naming it.

Each provider package exposes a `ProviderConnector` called ``CONNECTOR`` beside its
`ProviderInfo` (the entry point's target). Code that serves "whatever providers are
installed" (the cloud's connect buttons, token refresh, account deletion) goes through
`get_connector`, so a new provider is one subpackage and one entry-point line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import httpx2

from wellpipe.core.errors import UnknownProviderError
from wellpipe.core.ports import Clock, HealthProvider, TokenProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.net import RequestBudget
from wellpipe.oauth import ClientCredentials, OAuthClient
from wellpipe.oauth.client import OAuthEndpoints
from wellpipe.providers import available_providers, get_provider_info, installed_entry_points

__all__ = ["ConnectedProvider", "ProviderConnector", "ProviderLocation", "get_connector"]


class ProviderLocation(Protocol):
    """Where a provider lives: its origin and OAuth endpoints."""

    @property
    def origin(self) -> str:
        """Base URL of the provider's API, without a trailing slash."""
        ...

    @property
    def oauth_endpoints(self) -> OAuthEndpoints:
        """Authorize and token URLs."""
        ...


class ConnectedProvider(HealthProvider, Protocol):
    """A `HealthProvider` that can also give up its grant at the provider."""

    async def revoke(self) -> None:
        """Revoke the member's grant at the provider (tokens stop working)."""
        ...


@dataclass(frozen=True)
class ProviderConnector:
    """Everything needed to connect an account at one provider and read from it.

    Attributes:
        info: The provider's facts.
        location: ``location(base_url)`` gives the provider's settings; ``None``
            reads the provider's own environment variables (``WELLPIPE_<NAME>_BASE_URL``).
        oauth_client: Builds the provider's `OAuthClient` for one developer app.
        open: Opens a `ConnectedProvider` for one account's `TokenProvider`.
    """

    info: ProviderInfo
    location: Callable[[str | None], ProviderLocation]
    oauth_client: Callable[..., OAuthClient]
    open: Callable[..., AbstractAsyncContextManager[ConnectedProvider]]

    def open_account(
        self,
        *,
        credentials: ClientCredentials,
        tokens: TokenProvider,
        location: ProviderLocation,
        clock: Clock,
        transport: httpx2.AsyncBaseTransport | None = None,
        throttle: RequestBudget | None = None,
        reconnect_action: str | None = None,
        credentials_hint: str | None = None,
    ) -> AbstractAsyncContextManager[ConnectedProvider]:
        """`open` with its keyword arguments spelled out."""
        return self.open(
            credentials=credentials,
            tokens=tokens,
            settings=location,
            clock=clock,
            transport=transport,
            throttle=throttle,
            reconnect_action=reconnect_action,
            credentials_hint=credentials_hint,
        )


def get_connector(name: str) -> ProviderConnector:
    """The connector of an installed, enabled provider.

    Raises:
        UnknownProviderError: no enabled provider has that name.
    """
    info = get_provider_info(name)
    for ep in (found for found in installed_entry_points() if found.name == name):
        module = importlib.import_module(ep.value.split(":", 1)[0])
        connector = getattr(module, "CONNECTOR", None)
        if isinstance(connector, ProviderConnector) and connector.info == info:
            return connector
        raise TypeError(f"{ep.value.split(':', 1)[0]} must define CONNECTOR for {name!r}")
    raise UnknownProviderError(name, installed=available_providers())  # pragma: no cover
