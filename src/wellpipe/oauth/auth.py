"""Bearer authentication that refreshes once on expiry or on a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx2

from wellpipe.oauth.refresh import TokenRefresher

__all__ = ["RefreshingAuth"]


class RefreshingAuth(httpx2.Auth):
    """Adds ``Authorization: Bearer …``; on a 401, refreshes once and resends.

    A second 401 is returned to the caller as is: refreshing again would only
    burn another rotation.
    """

    def __init__(self, refresher: TokenRefresher) -> None:
        self._refresher = refresher

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        """Not supported: Wellpipe's provider clients are async."""
        raise RuntimeError("RefreshingAuth works with httpx2.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Send with the current token; refresh and resend once if it is refused."""
        token = await self._refresher.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self._refresher.refresh(rejected=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
