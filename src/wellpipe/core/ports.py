"""The seams between layers, as Protocols. Implementations do not inherit from them.

* `TokenProvider`: where one account's provider tokens live (a local `.env`, a
  database row, memory) and how their refresh is serialized.
* `HealthProvider`: what a provider can read, by kind and time range.
* `Clock`: time, injected so tests never sleep.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from wellpipe.core.models import (
    BodyMeasurement,
    DataKind,
    Profile,
    Record,
    RecordSet,
    TimeWindow,
)
from wellpipe.core.provider_info import ProviderInfo

__all__ = ["Clock", "HealthProvider", "TokenProvider"]


class Clock(Protocol):
    """Time, as the rest of Wellpipe sees it."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking other tasks."""
        ...


class TokenProvider(Protocol):
    """The stored OAuth tokens of one account at one provider.

    Getters return what is *stored now*: an implementation that caches must
    re-read its store when `refresh_lock` is entered, so the code that refreshes
    sees a token another process may have just written.

    Refresh tokens rotate at every provider Wellpipe supports: each refresh
    invalidates the previous pair, so two refreshes of one account racing each
    other lose the grant. `refresh_lock` is how an implementation prevents that,
    across tasks and, where it matters, across processes or workers.
    """

    async def get_access_token(self) -> str | None:
        """The stored access token, or ``None`` if there is none."""
        ...

    async def get_refresh_token(self) -> str | None:
        """The stored refresh token, or ``None`` if there is none or the grant is dead."""
        ...

    async def update_tokens(
        self,
        access_token: str,
        refresh_token: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Persist a new token pair durably and atomically before it is used.

        A ``refresh_token`` of ``None`` keeps the stored one (some responses carry
        none). Storing tokens also clears a dead-grant mark.
        """
        ...

    async def is_expired(self, margin: timedelta = timedelta(0)) -> bool:
        """Whether the access token expires within ``margin`` (or has no known expiry left)."""
        ...

    def refresh_lock(self) -> AbstractAsyncContextManager[None]:
        """Exclusive access to this account's tokens for the length of one refresh."""
        ...

    async def mark_reauthorization_required(self, reason: str) -> None:
        """Record that the grant is dead (the provider said ``invalid_grant``).

        Afterwards `get_refresh_token` returns ``None``, so nobody retries a dead
        token, until `update_tokens` stores a new pair.
        """
        ...

    async def dead_grant_reason(self) -> str | None:
        """Why the grant was marked dead (as recorded), or ``None`` if it was not."""
        ...


class HealthProvider(Protocol):
    """What one connected account at one provider can read."""

    @property
    def info(self) -> ProviderInfo:
        """Facts about the provider, including which kinds it offers."""
        ...

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Every record of the given kinds that overlaps ``window``.

        Raises:
            UnsupportedDataKind: a kind the provider does not offer was asked for.
            ReauthorizationRequired: the grant is dead; the user must connect again.
            ProviderError: the provider could not give the data (see its subclasses).
        """
        ...

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record of ``kind`` by the provider's own id (``Record.source_id``).

        Raises:
            NotFound: the provider has no such record (or the id is malformed).
            UnsupportedDataKind: the provider does not offer ``kind``.
            ReauthorizationRequired: the grant is dead; the user must connect again.
            ProviderError: the provider could not give the data.
        """
        ...

    async def profile(self) -> Profile:
        """The account holder's profile."""
        ...

    async def body_measurement(self) -> BodyMeasurement:
        """The account holder's body measurements."""
        ...
