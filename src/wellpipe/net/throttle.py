"""Client-side budget for one provider app's requests, shared by every task in the process.

Providers limit requests per developer *app*, not per user (WHOOP: 100 a minute
and 10,000 a day), so every account served by one process draws on one budget.
The throttle keeps a sliding log per window and waits for room before a request
goes out. It also listens to the provider: when the provider reports no
requests remaining, or answers 429, everyone waits until its reset; a read that
answers with other providers (`wellpipe.core.patience`) waits on such a pause only as
long as its patience lasts, and otherwise gives up on this provider at once.

Background work (a backfill) takes the lower lane, `Throttle.background`: it never
spends the last part of any window (``reserve``), and steps aside while any interactive
request waits, so a question asked during a sync never queues behind it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import anyio

from wellpipe.core.errors import ProviderRateLimited
from wellpipe.core.patience import current_patience
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit

__all__ = [
    "BackgroundLane",
    "BatchBudget",
    "RequestBudget",
    "Throttle",
    "ThrottleState",
    "parse_count",
    "parse_seconds",
    "reserve_together",
]

_YIELD_S = 0.01


class RequestBudget(Protocol):
    """What a provider client needs from its app's request budget.

    `Throttle` is the per-process implementation; a service with several workers
    plugs in one whose counts and pauses are shared (a database or Redis).
    """

    async def acquire(self, endpoint: str | None = None) -> None:
        """Wait for room for one more request (or raise `ProviderRateLimited`), then count it."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429, or the provider's budget ran out)."""
        ...

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the provider's ``X-RateLimit-*`` headers from a response."""
        ...


@runtime_checkable
class BatchBudget(RequestBudget, Protocol):
    """A `RequestBudget` that can count several requests at once, all or none.

    Where many readers share one scarce budget, a read of several collections at once
    (a question: WHOOP's four) that gets some of its requests and is refused the rest
    fails anyway, and its siblings are cancelled after they were counted: the budget is
    spent on nothing. Counting them together first either lets the whole read through or
    refuses it before any request.
    """

    async def reserve(self, count: int, endpoint: str | None = None) -> None:
        """Count ``count`` requests now, all or none (or raise).

        The next ``count`` `acquire` calls take them without counting again.
        """
        ...


async def reserve_together(budget: RequestBudget | None, count: int) -> None:
    """`BatchBudget.reserve` where the budget can (elsewhere requests count one by one)."""
    if count > 1 and isinstance(budget, BatchBudget):
        await budget.reserve(count)


@dataclass(frozen=True)
class ThrottleState:
    """What the throttle knows right now.

    Attributes:
        sent: Requests let through since the throttle was made.
        server_limit: The provider's last ``X-RateLimit-Limit`` header, verbatim.
        server_remaining: The provider's last ``X-RateLimit-Remaining``.
        server_reset_s: The provider's last ``X-RateLimit-Reset`` (seconds).
        paused_for_s: Seconds until requests may flow again (0 when not paused).
    """

    sent: int
    server_limit: str | None
    server_remaining: int | None
    server_reset_s: float | None
    paused_for_s: float


class Throttle:
    """Keeps one provider app under its published rate limits."""

    def __init__(
        self,
        limits: Sequence[RateLimit],
        *,
        clock: Clock,
        provider: str,
        max_wait_s: float = 60.0,
    ) -> None:
        """Create a throttle.

        Args:
            limits: At most ``requests`` per ``seconds``, for each limit.
            clock: Time source (tests pass a fake one).
            provider: Provider name, for error messages.
            max_wait_s: Longest a request waits for room (default: one WHOOP
                minute window). Beyond that the caller gets `ProviderRateLimited`
                with the wait, instead of hanging.
        """
        self._limits = tuple(limits)
        self._logs: tuple[deque[float], ...] = tuple(deque() for _ in self._limits)
        self._clock = clock
        self._provider = provider
        self._max_wait_s = max_wait_s
        self._lock = anyio.Lock()
        self._paused_until = -math.inf
        self._sent = 0
        self._server_limit: str | None = None
        self._server_remaining: int | None = None
        self._server_reset_s: float | None = None
        self._interactive = 0

    def background(self, reserve: float = 0.2) -> BackgroundLane:
        """This budget's lower lane, for background work (see `BackgroundLane`)."""
        return BackgroundLane(self, reserve=reserve)

    @property
    def interactive_waiting(self) -> int:
        """Interactive requests waiting for their turn right now."""
        return self._interactive

    async def acquire(self, endpoint: str | None = None) -> None:
        """Wait until one more request fits every budget, then count it.

        Raises:
            ProviderRateLimited: room would take longer than ``max_wait_s``.
        """
        self._interactive += 1
        try:
            await self._acquire(endpoint)
        finally:
            self._interactive -= 1

    async def acquire_background(self, endpoint: str | None, *, reserve: float) -> None:
        """Count one background request once no interactive one waits and room is left.

        Room means every window keeps ``reserve`` of its requests for interactive ones.
        The lock is never held while waiting, so an interactive request is not delayed.

        Raises:
            ProviderRateLimited: room would take longer than ``max_wait_s``.
        """
        while True:
            if self._interactive > 0:
                await self._clock.sleep(_YIELD_S)
                continue
            async with self._lock:
                now = self._clock.monotonic()
                wait = self._wait_needed(now, reserve=reserve)
                if wait <= 0 and self._interactive == 0:
                    for log in self._logs:
                        log.append(now)
                    self._sent += 1
                    return
            if wait > self._max_wait_s:
                raise ProviderRateLimited(
                    provider=self._provider, endpoint=endpoint, retry_after=wait
                )
            await self._clock.sleep(max(wait, _YIELD_S))

    async def _acquire(self, endpoint: str | None) -> None:
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                wait = self._wait_needed(now)
                if wait <= 0:
                    for log in self._logs:
                        log.append(now)
                    self._sent += 1
                    return
                if wait > self._max_wait_s:
                    raise ProviderRateLimited(
                        provider=self._provider, endpoint=endpoint, retry_after=wait
                    )
                paused = self._paused_until - now
                patience = current_patience()
                if patience is not None and paused > 0 and not patience.spend(paused):
                    # The provider asked to slow down, and this read answers with others:
                    # leave this provider out rather than hold their answers.
                    raise ProviderRateLimited(
                        provider=self._provider, endpoint=endpoint, retry_after=paused
                    )
                await self._clock.sleep(wait)

    def _wait_needed(self, now: float, *, reserve: float = 0.0) -> float:
        wait = self._paused_until - now
        for limit, log in zip(self._limits, self._logs, strict=True):
            while log and log[0] <= now - limit.seconds:
                log.popleft()
            allowed = limit.requests
            if reserve > 0:
                allowed = max(1, math.floor(limit.requests * (1 - reserve)))
            if len(log) >= allowed:
                wait = max(wait, log[len(log) - allowed] + limit.seconds - now)
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429, or the provider's budget ran out)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + max(0.0, seconds))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the provider's ``X-RateLimit-*`` headers; pause when it says none remain."""
        limit = headers.get("x-ratelimit-limit")
        remaining = parse_count(headers.get("x-ratelimit-remaining"))
        reset = reset_seconds(headers.get("x-ratelimit-reset"), self._clock)
        if limit is None and remaining is None:
            return
        self._server_limit = limit
        self._server_remaining = remaining
        self._server_reset_s = reset
        if remaining is not None and remaining <= 0 and reset is not None:
            self.pause(reset)

    @property
    def state(self) -> ThrottleState:
        """A snapshot for status displays and benchmarks."""
        return ThrottleState(
            sent=self._sent,
            server_limit=self._server_limit,
            server_remaining=self._server_remaining,
            server_reset_s=self._server_reset_s,
            paused_for_s=max(0.0, self._paused_until - self._clock.monotonic()),
        )


class BackgroundLane:
    """A `Throttle`'s lower lane (a `RequestBudget`) for background work.

    Attributes:
        throttle: The throttle it shares windows and pauses with.
        reserve: Share of every window it leaves to interactive requests.
    """

    def __init__(self, throttle: Throttle, *, reserve: float = 0.2) -> None:
        if not 0 <= reserve < 1:
            raise ValueError("reserve must be in [0, 1)")
        self.throttle = throttle
        self.reserve = reserve

    async def acquire(self, endpoint: str | None = None) -> None:
        """Count one request once interactive ones are served and room is left."""
        await self.throttle.acquire_background(endpoint, reserve=self.reserve)

    def pause(self, seconds: float) -> None:
        """Hold every request (see `Throttle.pause`)."""
        self.throttle.pause(seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """See `Throttle.observe`."""
        self.throttle.observe(headers)


_EPOCH_SECONDS_FLOOR = 1_000_000_000.0
"""An ``X-RateLimit-Reset`` above this (2001-09-09) is a Unix time, not a number of seconds."""


def reset_seconds(value: str | None, clock: Clock) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` comes: WHOOP sends seconds, Oura a Unix time."""
    reset = parse_seconds(value)
    if reset is not None and reset > _EPOCH_SECONDS_FLOOR:
        return max(0.0, reset - clock.now().timestamp())
    return reset


def parse_count(value: str | None) -> int | None:
    """The first integer of a rate-limit header (``"100, 100;window=60"`` → 100), or ``None``."""
    if value is None:
        return None
    try:
        return int(value.split(",")[0].strip())
    except ValueError:
        return None


def parse_seconds(value: str | None) -> float | None:
    """A non-negative number of seconds from a header, or ``None`` if absent or garbage."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
