"""Client plumbing the providers share: sending, pagination guards, plain HTTP status errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import httpx2

from wellpipe.core.errors import NotFound, ProviderResponseError, ReauthorizationRequired
from wellpipe.core.ports import Clock
from wellpipe.net import Reply, RequestBudget, RetryPolicy, send

__all__ = ["ApiRequests", "PageTokens", "raise_for_status"]


@dataclass(frozen=True)
class ApiRequests:
    """Sends one client's requests through `wellpipe.net.send`: throttled, retried, authenticated.

    Attributes:
        http: Client pointed at the provider's origin.
        provider: Provider name, for errors and logs.
        clock: Time source.
        retry: Retry policy for 429, 5xx and network failures.
        throttle: The request budget.
        auth: Adds (and refreshes) the bearer token.
    """

    http: httpx2.AsyncClient
    provider: str
    clock: Clock
    retry: RetryPolicy
    throttle: RequestBudget | None
    auth: httpx2.Auth

    async def send(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        idempotent: bool = True,
    ) -> Reply:
        """Send one request (rebuilt for each attempt) and return the final reply.

        Args:
            method: HTTP method.
            url: Path (or URL) to request.
            endpoint: ``METHOD /path/{template}``, for errors and logs.
            params: Query parameters.
            content: Raw body.
            data: Form body.
            headers: Extra headers.
            authenticated: Whether to add the bearer token.
            idempotent: Whether a network failure may be retried.
        """
        frozen = dict(params) if params is not None else None

        def build() -> httpx2.Request:
            return self.http.build_request(
                method, url, params=frozen, content=content, data=data, headers=headers
            )

        return await send(
            self.http,
            build,
            provider=self.provider,
            endpoint=endpoint,
            clock=self.clock,
            policy=self.retry,
            throttle=self.throttle,
            auth=self.auth if authenticated else None,
            idempotent=idempotent,
        )


class PageTokens:
    """Guards one paginated read: a token that comes back twice, or pages that never end.

    Loop ``for _ in guard.pages()``, `check` each next-page token before
    following it, and ``raise guard.endless(endpoint)`` when the loop runs out.
    """

    def __init__(
        self, *, provider: str, field: str, max_pages: int, noun: str = "collection"
    ) -> None:
        """Create a guard for one read.

        Args:
            provider: Provider name, for the errors.
            field: The token's name on the wire (``next_token``).
            max_pages: How many pages the read may take.
            noun: What did not end, in the error (``"collection"``).
        """
        self._provider = provider
        self._field = field
        self._max_pages = max_pages
        self._noun = noun
        self._seen: set[str] = set()

    def pages(self) -> range:
        """One step per page the read may take."""
        return range(self._max_pages)

    def check(self, token: str, endpoint: str) -> None:
        """Remember ``token``; raise if it came back before."""
        if token in self._seen:
            raise ProviderResponseError(
                provider=self._provider,
                endpoint=endpoint,
                problem=f"the same {self._field} came back twice",
                field=self._field,
            )
        self._seen.add(token)

    def endless(self, endpoint: str) -> ProviderResponseError:
        """The error for a read that still had a next page after the last one allowed."""
        return ProviderResponseError(
            provider=self._provider,
            endpoint=endpoint,
            problem=f"the {self._noun} did not end after {self._max_pages} pages",
            field=self._field,
        )


def raise_for_status(
    reply: Reply,
    *,
    provider: str,
    display_name: str,
    what: str,
    reconnect_action: str | None,
) -> NoReturn:
    """Raise the error for an unexpected status from an API without an error envelope.

    Raises:
        ReauthorizationRequired: 401 (`send` has refreshed the token once already).
        NotFound: 404, naming ``what``.
        ProviderResponseError: anything else.
    """
    if reply.status_code == 401:
        raise ReauthorizationRequired(
            provider=provider,
            reason=f"{display_name} refused the access token even after refreshing it",
            action=reconnect_action,
        )
    if reply.status_code == 404:
        raise NotFound(provider=provider, endpoint=reply.endpoint, what=what)
    raise ProviderResponseError(
        provider=provider,
        endpoint=reply.endpoint,
        problem=f"{display_name} answered HTTP {reply.status_code}",
        status=reply.status_code,
    )
