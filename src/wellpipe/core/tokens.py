"""Token values and an in-memory `TokenProvider` (for tests, demos and short-lived sessions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio

from wellpipe.core.ports import Clock

__all__ = ["MemoryTokenProvider", "TokenSet"]


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint returned. Token values never appear in ``repr``.

    Attributes:
        access_token: Bearer token for data requests.
        refresh_token: Single-use token for the next refresh, if one was issued.
        expires_at: When the access token stops working, if the provider said.
        scopes: The scopes actually granted (may be fewer than requested).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    scopes: frozenset[str] = frozenset()


class MemoryTokenProvider:
    """Tokens held in memory for one account; refreshes serialize on an `anyio.Lock`."""

    def __init__(self, tokens: TokenSet, *, clock: Clock) -> None:
        self._access = tokens.access_token
        self._refresh = tokens.refresh_token
        self._expires_at = tokens.expires_at
        self._clock = clock
        self._lock = anyio.Lock()
        self.reauthorization_reason: str | None = None
        """Why the grant was marked dead, if it was."""

    async def get_access_token(self) -> str | None:
        """The stored access token."""
        return self._access

    async def get_refresh_token(self) -> str | None:
        """The stored refresh token, or ``None`` once the grant was marked dead."""
        return None if self.reauthorization_reason else self._refresh

    async def update_tokens(
        self,
        access_token: str,
        refresh_token: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Store a new pair; a missing refresh token keeps the old one."""
        self._access = access_token
        if refresh_token:
            self._refresh = refresh_token
        self._expires_at = expires_at
        self.reauthorization_reason = None

    async def is_expired(self, margin: timedelta = timedelta(0)) -> bool:
        """Whether the access token expires within ``margin``; unknown expiry counts as valid."""
        if self._expires_at is None:
            return False
        return self._clock.now() + margin >= self._expires_at

    @asynccontextmanager
    async def refresh_lock(self) -> AsyncIterator[None]:
        """Serialize refreshes within this process."""
        async with self._lock:
            yield

    async def mark_reauthorization_required(self, reason: str) -> None:
        """Remember that the grant is dead."""
        self.reauthorization_reason = reason

    async def dead_grant_reason(self) -> str | None:
        """Why the grant was marked dead, or ``None``."""
        return self.reauthorization_reason
