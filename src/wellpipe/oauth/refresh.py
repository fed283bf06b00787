"""Single-flight access-token refresh for one account.

Refresh tokens rotate: each refresh invalidates the previous pair, so two
refreshes of one account racing each other lose the grant. The refresher
therefore

1. takes the account's lock (`TokenProvider.refresh_lock`: tasks and, where the
   store supports it, processes);
2. re-reads the stored token: if someone else already refreshed, uses theirs;
3. refreshes, and persists the new pair before anyone uses it, shielded from
   cancellation so a cancelled caller cannot drop a freshly rotated grant;
4. treats only ``invalid_grant`` as fatal. A timeout, 5xx or 429 keeps every token.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio

from wellpipe.core.errors import ReauthorizationRequired
from wellpipe.core.ports import TokenProvider
from wellpipe.oauth.client import InvalidGrant, OAuthClient

__all__ = ["TokenRefresher"]

logger = logging.getLogger(__name__)


class TokenRefresher:
    """Hands out a valid access token for one account, refreshing when needed."""

    def __init__(
        self,
        *,
        tokens: TokenProvider,
        oauth: OAuthClient,
        margin: timedelta = timedelta(seconds=120),
        reconnect_action: str | None = None,
    ) -> None:
        """Create a refresher.

        Args:
            tokens: Where the account's tokens live.
            oauth: The provider's OAuth client.
            margin: Refresh this long before the access token expires.
            reconnect_action: The next step to tell a user whose grant is dead;
                defaults to the CLI's ``wellpipe auth <provider>``.
        """
        self._tokens = tokens
        self._oauth = oauth
        self._margin = margin
        self._reconnect_action = reconnect_action
        self.refreshes = 0
        """How many refreshes this refresher performed (for tests and diagnostics)."""

    @property
    def _provider(self) -> str:
        return self._oauth.info.name

    def _dead(self, reason: str) -> ReauthorizationRequired:
        return ReauthorizationRequired(
            provider=self._provider, reason=reason, action=self._reconnect_action
        )

    async def access_token(self) -> str:
        """A token that is valid for at least ``margin`` (refreshing first if needed).

        Raises:
            ReauthorizationRequired: there is no usable grant.
            ProviderError: the refresh failed transiently; tokens are unchanged.
        """
        token = await self._tokens.get_access_token()
        if token and not await self._tokens.is_expired(self._margin):
            return token
        return await self.refresh(rejected=token)

    async def refresh(self, *, rejected: str | None) -> str:
        """Refresh unless another task or process already replaced ``rejected``.

        Args:
            rejected: The access token that was found expired or was refused
                with 401; ``None`` if there was none.
        """
        async with self._tokens.refresh_lock():
            current = await self._tokens.get_access_token()
            if current and current != rejected and not await self._tokens.is_expired(self._margin):
                return current  # someone else refreshed while we waited for the lock
            refresh_token = await self._tokens.get_refresh_token()
            if not refresh_token:
                recorded = await self._tokens.dead_grant_reason()
                raise self._dead(recorded or "no refresh token is stored")
            with anyio.CancelScope(shield=True):
                token = await self._rotate(refresh_token)
        return token

    async def _rotate(self, refresh_token: str) -> str:
        try:
            new = await self._oauth.refresh(refresh_token)
        except InvalidGrant:
            stored = await self._tokens.get_refresh_token()
            if stored and stored != refresh_token:
                # A sibling without our lock rotated first; its tokens are good.
                logger.info("%s refresh raced a sibling; using its tokens", self._provider)
                token = await self._tokens.get_access_token()
                if token:
                    return token
            logger.warning(
                "%s grant is dead (invalid_grant); re-authorization needed", self._provider
            )
            refused = "the provider refused the refresh token"
            await self._tokens.mark_reauthorization_required(refused)
            # The store may know better (a refresh whose answer was lost spent the token).
            recorded = await self._tokens.dead_grant_reason()
            raise self._dead(recorded or refused) from None
        await self._tokens.update_tokens(new.access_token, new.refresh_token, new.expires_at)
        self.refreshes += 1
        logger.info("%s access token refreshed", self._provider)
        return new.access_token
