"""Sending one logical request: throttled, retried with backoff and jitter, size-capped.

Retries go through `stamina` (exponential backoff with jitter, bounded in both
attempts and total time). What is retried:

* 429: after the provider's ``Retry-After`` (seconds or HTTP date) or, failing
  that, its ``X-RateLimit-Reset`` (without either, ``wait_max_s``). With a
  `Throttle`, the whole app pauses, not only this request. A wait longer than
  ``max_retry_after_s``, or than the read's patience (`wellpipe.core.patience`:
  a read answering with other providers waits 2 s at most), is not slept
  through: the caller gets `ProviderRateLimited` with the wait.
* 5xx, and connection failures before the request was sent.
* Read timeouts and dropped connections, only for idempotent requests.

Nothing here touches tokens; a failure of any kind leaves them as they were.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

import httpx2
import stamina

from wellpipe.core.errors import ProviderRateLimited, ProviderResponseError, ProviderUnavailable
from wellpipe.core.patience import current_patience
from wellpipe.core.ports import Clock
from wellpipe.net.throttle import RequestBudget, parse_seconds, reset_seconds

__all__ = ["Reply", "RetryPolicy", "send"]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up. The defaults suit an interactive tool call.

    Attributes:
        attempts: Tries in all, the first included.
        timeout_s: Give up retrying once this much time has passed.
        wait_initial_s: First backoff; it doubles each retry (plus jitter).
        wait_max_s: Largest single backoff.
        wait_jitter_s: Up to this much random extra per backoff.
        max_retry_after_s: Longest provider-requested wait we sit through.
        max_body_bytes: Larger responses are refused (a provider page is a few kB).
    """

    attempts: int = 4
    timeout_s: float = 30.0
    wait_initial_s: float = 0.5
    wait_max_s: float = 8.0
    wait_jitter_s: float = 1.0
    max_retry_after_s: float = 60.0
    max_body_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """A complete response: status, headers and the whole (size-capped) body."""

    status_code: int
    headers: httpx2.Headers
    content: bytes
    endpoint: str


class _Retry(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        wait: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.wait = wait
        """Seconds for stamina to sleep before the next try; ``None`` for its own backoff."""
        self.retry_after = retry_after
        """Seconds the provider asked for (429)."""

    def as_error(self, provider: str, endpoint: str) -> ProviderRateLimited | ProviderUnavailable:
        """What the caller sees once the retries are spent."""
        if self.status == 429:
            return ProviderRateLimited(
                provider=provider, endpoint=endpoint, retry_after=self.retry_after or 60.0
            )
        return ProviderUnavailable(provider=provider, endpoint=endpoint, detail=self.detail)


def _backoff(exc: BaseException) -> bool | float:
    # BaseException: stamina's hook type (26.2 widened it); a narrower parameter is not
    # a subtype of the callable it asks for.
    if not isinstance(exc, _Retry):
        return False
    return exc.wait if exc.wait is not None else True


async def send(
    http: httpx2.AsyncClient,
    build: Callable[[], httpx2.Request],
    *,
    provider: str,
    endpoint: str,
    clock: Clock,
    policy: RetryPolicy = RetryPolicy(),
    throttle: RequestBudget | None = None,
    auth: httpx2.Auth | None = None,
    idempotent: bool = True,
) -> Reply:
    """Send a request until it succeeds, fails for good, or the policy runs out.

    Args:
        http: The client to send with.
        build: Makes a fresh request for each attempt.
        provider: Provider name, for errors.
        endpoint: ``"GET /developer/v2/cycle"``-style label, for errors and logs.
        clock: Time source for ``Retry-After`` dates.
        policy: Attempts, timeouts and limits.
        throttle: The provider app's budget; requests wait for room in it.
        auth: Per-request auth (e.g. bearer with refresh).
        idempotent: Whether a request that may have reached the server can be repeated.

    Returns:
        The reply, whatever its status below 500 (429 excepted).

    Raises:
        ProviderUnavailable: network trouble or 5xx outlasted the retries.
        ProviderRateLimited: the provider (or the throttle) wants a longer pause.
        ProviderResponseError: the body is larger than ``policy.max_body_bytes``.
    """
    try:
        async for attempt in stamina.retry_context(
            on=_backoff,
            attempts=policy.attempts,
            timeout=policy.timeout_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                return await _attempt(
                    http, build(), provider, endpoint, clock, policy, throttle, auth, idempotent
                )
    except _Retry as exhausted:  # stamina re-raises the last attempt's failure
        raise exhausted.as_error(provider, endpoint) from None
    raise AssertionError("stamina stopped without a result or an error")  # pragma: no cover


async def _attempt(
    http: httpx2.AsyncClient,
    request: httpx2.Request,
    provider: str,
    endpoint: str,
    clock: Clock,
    policy: RetryPolicy,
    throttle: RequestBudget | None,
    auth: httpx2.Auth | None,
    idempotent: bool,
) -> Reply:
    if throttle is not None:
        await throttle.acquire(endpoint)
    try:
        response = await http.send(request, auth=auth or httpx2.USE_CLIENT_DEFAULT, stream=True)
    except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout) as exc:
        raise _Retry(f"could not connect: {type(exc).__name__}") from None
    except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        if idempotent:
            raise _Retry(f"connection failed: {type(exc).__name__}") from None
        raise ProviderUnavailable(
            provider=provider, endpoint=endpoint, detail=f"connection failed: {type(exc).__name__}"
        ) from None
    try:
        content = await _read_capped(response, policy.max_body_bytes, provider, endpoint)
    except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        raise _Retry(f"response cut off: {type(exc).__name__}") from None
    finally:
        await response.aclose()
    if throttle is not None:
        throttle.observe(response.headers)

    status = response.status_code
    if status == 429:
        retry_after = _retry_after(response.headers, clock)
        wait = retry_after if retry_after is not None else policy.wait_max_s
        if throttle is not None:
            throttle.pause(wait)
        patience = current_patience()
        if wait > policy.max_retry_after_s or (patience is not None and not patience.allows(wait)):
            raise ProviderRateLimited(provider=provider, endpoint=endpoint, retry_after=wait)
        if throttle is None:  # stamina sleeps it off
            if patience is not None:
                patience.spend(wait)
            raise _Retry("HTTP 429", status=429, wait=wait, retry_after=wait)
        # With a throttle the whole app waits there (spending the patience, if any, as it
        # does); stamina adds its own backoff only when no patience is counting the wait.
        raise _Retry(
            "HTTP 429", status=429, wait=None if patience is None else 0.0, retry_after=wait
        )
    if status >= 500:
        raise _Retry(f"HTTP {status}", status=status)
    return Reply(status_code=status, headers=response.headers, content=content, endpoint=endpoint)


async def _read_capped(
    response: httpx2.Response, limit: int, provider: str, endpoint: str
) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ProviderResponseError(
                provider=provider,
                endpoint=endpoint,
                problem=f"the response is larger than {limit // 1024} kB",
                status=response.status_code,
            )
    return bytes(body)


def _retry_after(headers: httpx2.Headers, clock: Clock) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta or HTTP date), else ``X-RateLimit-Reset``.

    The reset is seconds from now (WHOOP) or a Unix time (Oura).
    """
    value = headers.get("retry-after")
    if value is not None:
        seconds = parse_seconds(value)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            delta = (when - clock.now().astimezone(UTC)).total_seconds()
            return max(0.0, delta) if math.isfinite(delta) else None
    return reset_seconds(headers.get("x-ratelimit-reset"), clock)
