"""What every ``open_<provider>`` wires up before it builds its client.

One HTTP client at the provider's origin, the provider's `OAuthClient` on it, a
`TokenRefresher` over the member's tokens, `RefreshingAuth` for the bearer
token, and the app's request budget (a fresh `Throttle` at the provider's
published limits unless one shared budget is passed in).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2

from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import Clock, TokenProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.net import RequestBudget, Throttle, build_http_client
from wellpipe.oauth import ClientCredentials, OAuthClient, RefreshingAuth, TokenRefresher
from wellpipe.providers.connector import ProviderLocation

__all__ = ["Session", "open_session"]


@dataclass(frozen=True)
class Session:
    """One member's wiring at one provider, for the provider's client.

    Attributes:
        http: The HTTP client, pointed at the provider's origin.
        auth: Adds (and refreshes) the member's bearer token.
        refresher: The member's token refresher (revocation reads tokens through it).
        clock: Time source.
        throttle: The app's request budget.
    """

    http: httpx2.AsyncClient
    auth: RefreshingAuth
    refresher: TokenRefresher
    clock: Clock
    throttle: RequestBudget


@asynccontextmanager
async def open_session(
    info: ProviderInfo,
    settings: ProviderLocation,
    oauth_client: Callable[..., OAuthClient],
    *,
    credentials: ClientCredentials,
    credentials_hint: str | None,
    tokens: TokenProvider,
    clock: Clock | None,
    transport: httpx2.AsyncBaseTransport | None,
    throttle: RequestBudget | None,
    reconnect_action: str | None,
) -> AsyncIterator[Session]:
    """A `Session` whose HTTP client closes when the block ends.

    Args:
        info: The provider (its name and rate limits).
        settings: Where the provider lives.
        oauth_client: The provider's ``<name>_oauth_client``.
        credentials: The developer app.
        credentials_hint: What to tell a user whose client id/secret the provider rejects.
        tokens: The member's tokens; refreshed tokens are written back here.
        clock: Time source (the system clock when ``None``).
        transport: An `httpx2` transport to use instead of the network.
        throttle: The app's shared request budget, or ``None`` for a fresh one.
        reconnect_action: What to tell a user whose grant is dead.
    """
    clock = clock or SystemClock()
    async with build_http_client(base_url=settings.origin, transport=transport) as http:
        oauth = oauth_client(
            settings=settings,
            credentials=credentials,
            http=http,
            clock=clock,
            credentials_hint=credentials_hint,
        )
        refresher = TokenRefresher(tokens=tokens, oauth=oauth, reconnect_action=reconnect_action)
        yield Session(
            http=http,
            auth=RefreshingAuth(refresher),
            refresher=refresher,
            clock=clock,
            throttle=throttle or Throttle(info.rate_limits, clock=clock, provider=info.name),
        )
