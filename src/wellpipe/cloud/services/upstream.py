"""The outbound budget of one provider app, shared by every worker of the service.

Every tenant reads through the same developer app (WHOOP: 100 requests a minute and
10,000 a day), so the counts must be shared: in Redis when it is configured (one Lua
script checks and counts atomically), else in the database's ``upstream_windows``
table (one ``INSERT … ON CONFLICT DO UPDATE … WHERE count < limit RETURNING`` per
window, all in one transaction). Windows are fixed and aligned to the epoch, as the
provider counts them.

On top of the app's windows each user gets a fair share of the shortest window (30 %
by default), so one busy user cannot starve everyone else.

When the provider answers 429, or says none remain, the budget is paused for the
whole app, across workers: a sentinel row (``window_s = 0``, ``count`` = the epoch
second the pause ends) or a Redis key. While the budget is spent or paused, requests
fail at once with `ProviderBusy` instead of queueing or hammering the provider; its
`BusyReason` says whose limit refused, in the sentence REST and MCP show:

* the user's fair share: "You have used your share of WHOOP requests for this minute;
  try again in 26 s."
* the app's own window: "Wellpipe's WHOOP allowance is used up for this day; try again
  in N s."
* a pause the provider asked for: "WHOOP asked Wellpipe to slow down; try again in N s."

Redis is optional, never a single point of failure: when a Redis call fails, this
worker counts in the database for `REDIS_RETRY_AFTER_S` (a warning naming the error's
type), then tries Redis again. Counts made in one store are not seen by the other, so
an outage can let one window through twice; the provider's own 429 still pauses
everyone.

The budget plugs into the provider client where the per-process `Throttle` goes: it
implements `wellpipe.net.RequestBudget` (``acquire`` / ``pause`` / ``observe``).

Background work (backfills, webhook fetches, reconciliation: `for_background`) draws on
the same windows in a lower lane, so a person's question never waits behind it:

* it never spends the last `DEFAULT_BACKGROUND_RESERVE` of any app window (those
  requests are kept for people, on every worker: the reserve is counted in the shared
  windows themselves);
* in this process it steps aside while any interactive request is taking its turn;
* it has its own fair share per user (not the user's interactive share: a user's
  backfill never uses up the user's own questions);
* it waits for room (up to ``background_max_wait_s``) instead of failing at once, then
  raises `ProviderBusy`, whose ``retry_after`` the job queue uses to try again later.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database, windows
from wellpipe.cloud.services.limits import REDIS_RETRY_AFTER_S
from wellpipe.core.errors import ProviderRateLimited
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit
from wellpipe.net.throttle import parse_count, parse_seconds
from wellpipe.providers import get_provider_info

__all__ = [
    "DEFAULT_BACKGROUND_RESERVE",
    "DEFAULT_USER_SHARE",
    "BackgroundBudget",
    "BusyReason",
    "ProviderBusy",
    "UpstreamBudget",
    "UserBudget",
    "budget_for",
    "install_budget",
    "sliding_safe",
]

logger = logging.getLogger(__name__)

DEFAULT_USER_SHARE = 0.3
"""The largest part of the shortest window one user may take."""

DEFAULT_BACKGROUND_RESERVE = 0.2
"""The share of every app window background work leaves for people's questions."""

_USER_MARK = "~"
_BACKGROUND_MARK = "b"  # after _USER_MARK: background shares are cleaned up with the rest
_YIELD_MARK = "!yield"
"""``{provider}!yield``: a pause of the lower lane only, set when a question found an app
window full (stored like the app's pause: a Redis key, or a sentinel row)."""
_YIELD_CHECK_S = 1.0
"""How often background work reads the shared lower-lane pause (between, it uses its copy)."""
_YIELD_S = 0.01
_MAX_PAUSE_S = 86_400.0


class BusyReason(enum.Enum):
    """Whose limit refused a request."""

    USER_SHARE = "user-share"
    """The user's fair share of the app's shortest window is used up."""
    APP_BUDGET = "app-budget"
    """One of the service app's own windows (a minute, a day) is used up."""
    PROVIDER_PAUSE = "provider-pause"
    """The provider answered 429, or said none remain: every worker pauses."""


class ProviderBusy(ProviderRateLimited):
    """The request was not sent: a share, a window or a pause of the provider app's budget.

    Attributes:
        reason: Whose limit refused.
        window_s: The length of the window that refused (``None`` for a pause).
    """

    def __init__(
        self,
        *,
        provider: str,
        display_name: str,
        endpoint: str | None,
        retry_after: float,
        reason: BusyReason = BusyReason.PROVIDER_PAUSE,
        window_s: int | None = None,
    ) -> None:
        """Refuse for ``retry_after`` seconds; without a ``reason``, the provider asked."""
        super().__init__(provider=provider, endpoint=endpoint, retry_after=retry_after)
        self.reason = reason
        self.window_s = window_s
        wait = f"try again in {max(1, math.ceil(self.retry_after))} s."
        span = _this(window_s)
        if reason is BusyReason.USER_SHARE:
            sentence = f"You have used your share of {display_name} requests for {span}; {wait}"
        elif reason is BusyReason.APP_BUDGET:
            sentence = f"Wellpipe's {display_name} allowance is used up for {span}; {wait}"
        else:
            sentence = f"{display_name} asked Wellpipe to slow down; {wait}"
        self.args = (sentence,)


def _this(window_s: int | None) -> str:
    """``"this minute"``, ``"this day"``, ``"these 5 minutes"``: a window, as people say it."""
    if window_s is None or window_s <= 0:
        return "now"
    for unit, seconds in (("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if window_s % seconds == 0:
            count = window_s // seconds
            return f"this {unit}" if count == 1 else f"these {count} {unit}s"
    raise AssertionError("unreachable: every whole number of seconds is a multiple of 1")


@dataclass(frozen=True)
class _Counter:
    """One window to count a request in."""

    key: str
    seconds: int
    start: int
    limit: int

    def reset_in(self, now: float) -> float:
        return self.start + self.seconds - now


@dataclass(frozen=True)
class _Refusal:
    retry_after: float
    paused: bool
    refused: _Counter | None = None  # the window that refused (``None`` for a pause)


class _Store(Protocol):
    async def take(
        self, provider: str, counters: Sequence[_Counter], now: float, count: int = 1
    ) -> _Refusal | None:
        """Count ``count`` requests in every counter, or none; a refusal says how long."""
        ...

    async def pause_until(self, provider: str, until: float, now: float) -> None:
        """Hold the app's requests until the epoch second ``until``."""
        ...

    async def paused_until(self, provider: str) -> float | None:
        """The epoch second a pause of ``provider`` ends (``None``: none was set)."""
        ...


class _DatabaseStore:
    """Windows as rows of ``upstream_windows`` (`wellpipe.cloud.db.windows`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(
        self, provider: str, counters: Sequence[_Counter], now: float, count: int = 1
    ) -> _Refusal | None:
        paused = await windows.paused_until(self._db, provider)
        if paused is not None and paused > now:
            return _Refusal(retry_after=paused - now, paused=True)
        taken = await windows.take(self._db, counters, count)
        if taken.refused is not None:
            refused = counters[taken.refused]
            return _Refusal(retry_after=refused.reset_in(now), paused=False, refused=refused)
        if taken.opened:  # once per new shortest window, not per request
            await windows.forget_ended(
                self._db, provider, prefix=provider + _USER_MARK, ended_before=int(now) - 60
            )
        return None

    async def pause_until(self, provider: str, until: float, now: float) -> None:
        await windows.pause_until(self._db, provider, math.ceil(until))

    async def paused_until(self, provider: str) -> float | None:
        found = await windows.paused_until(self._db, provider)
        return None if found is None else float(found)


_TAKE_SCRIPT = """
local now = tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then
  return {0, tostring(paused - now), 1}
end
local wanted = tonumber(ARGV[#ARGV])
for i = 2, #KEYS do
  local limit = tonumber(ARGV[i * 2 - 2])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count + wanted > limit then
    return {0, tostring(i - 1), 0}
  end
end
for i = 2, #KEYS do
  local ttl = tonumber(ARGV[i * 2 - 1])
  if redis.call('INCRBY', KEYS[i], wanted) == wanted then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return {1, '0', 0}
"""

_PAUSE_SCRIPT = """
local until_s = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_s > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class _RedisStore:
    """Windows as Redis counters that expire with their window."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._take = redis.register_script(_TAKE_SCRIPT)
        self._pause = redis.register_script(_PAUSE_SCRIPT)

    def _pause_key(self, provider: str) -> str:
        return f"{self._prefix}:{provider}:paused-until"

    async def take(
        self, provider: str, counters: Sequence[_Counter], now: float, count: int = 1
    ) -> _Refusal | None:
        keys = [self._pause_key(provider)]
        args: list[str] = [repr(now)]
        for counter in counters:
            keys.append(f"{self._prefix}:{counter.key}:{counter.seconds}:{counter.start}")
            args += [str(counter.limit), str((counter.seconds + 60) * 1000)]
        args.append(str(count))
        allowed, value, paused = await self._take(keys=keys, args=args)
        if int(allowed) == 1:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        if int(paused) == 1:
            return _Refusal(retry_after=float(text), paused=True)
        refused = counters[int(text) - 1]
        return _Refusal(retry_after=refused.reset_in(now), paused=False, refused=refused)

    async def pause_until(self, provider: str, until: float, now: float) -> None:
        ttl_ms = max(1000, math.ceil((until - now + 60) * 1000))
        await self._pause(keys=[self._pause_key(provider)], args=[repr(until), str(ttl_ms)])

    async def paused_until(self, provider: str) -> float | None:
        found = await self._redis.get(self._pause_key(provider))
        return None if found is None else float(found)


class _FallbackStore:
    """Redis, and the database while Redis is failing (for `REDIS_RETRY_AFTER_S` each time)."""

    def __init__(self, redis: _RedisStore, db: _DatabaseStore, clock: Clock, name: str) -> None:
        self._redis = redis
        self._db = db
        self._clock = clock
        self._name = name
        self._down_until = -math.inf

    def _redis_usable(self) -> bool:
        return self._clock.monotonic() >= self._down_until

    def _failed(self, error: Exception) -> None:
        if self._redis_usable():  # one warning per outage, not one per request in flight
            logger.warning(
                "Redis failed for the shared %s budget (%s); counting in the database for %.0f s",
                self._name,
                type(error).__name__,
                REDIS_RETRY_AFTER_S,
            )
        self._down_until = self._clock.monotonic() + REDIS_RETRY_AFTER_S

    async def take(
        self, provider: str, counters: Sequence[_Counter], now: float, count: int = 1
    ) -> _Refusal | None:
        if self._redis_usable():
            try:
                return await self._redis.take(provider, counters, now, count)
            except Exception as error:  # any Redis failure: the database takes over a while
                self._failed(error)
        return await self._db.take(provider, counters, now, count)

    async def pause_until(self, provider: str, until: float, now: float) -> None:
        if self._redis_usable():
            try:
                await self._redis.pause_until(provider, until, now)
                return
            except Exception as error:
                self._failed(error)
        await self._db.pause_until(provider, until, now)

    async def paused_until(self, provider: str) -> float | None:
        if self._redis_usable():
            try:
                return await self._redis.paused_until(provider)
            except Exception as error:
                self._failed(error)
        return await self._db.paused_until(provider)


class UpstreamBudget:
    """One provider app's request budget, shared through the database or Redis.

    Use `for_user` to get the `RequestBudget` a provider client takes: it counts each
    request in the app's windows and in the user's fair share.
    """

    def __init__(
        self,
        ctx: CloudContext,
        *,
        provider: str,
        limits: Sequence[RateLimit] | None = None,
        user_share: float = DEFAULT_USER_SHARE,
        max_wait_s: float = 2.0,
        redis_prefix: str = "wellpipe:upstream",
        background_reserve: float = DEFAULT_BACKGROUND_RESERVE,
        background_max_wait_s: float = 30.0,
    ) -> None:
        """Create the budget.

        Args:
            ctx: The service (its database, Redis and clock). With Redis, the database
                still counts while Redis is failing.
            provider: The provider's name.
            limits: The app's limits (default: the provider's published ones).
            user_share: Largest fraction of the shortest window one user may take
                (1.0 turns the fair share off).
            max_wait_s: A request that would fit within this many seconds waits for it;
                longer waits fail at once with `ProviderBusy`.
            redis_prefix: Where the counters live in Redis.
            background_reserve: Share of each app window background work never spends.
            background_max_wait_s: Longest background work waits for room before
                `ProviderBusy` (its job is then retried later).
        """
        info = get_provider_info(provider)
        self.provider = provider
        self.display_name = info.display_name
        published = tuple(info.rate_limits if limits is None else limits)
        chosen = sliding_safe(published) if limits is None else published
        self.limits = tuple(sorted(chosen, key=lambda limit: limit.seconds))
        # Each user's fair share is of the shortest window the provider states, not of
        # the tenths `sliding_safe` adds (a question takes several requests at once).
        self.share_window = min(published, key=lambda limit: limit.seconds, default=None)
        if not 0 < user_share <= 1:
            raise ValueError("user_share must be in (0, 1]")
        self.user_share = user_share
        self.max_wait_s = max_wait_s
        if not 0 <= background_reserve < 1:
            raise ValueError("background_reserve must be in [0, 1)")
        self.background_reserve = background_reserve
        self.background_max_wait_s = background_max_wait_s
        self._interactive = 0  # interactive requests of this process taking their turn
        self._clock: Clock = ctx.clock
        self._store: _Store
        if ctx.redis is not None:
            self._store = _FallbackStore(
                _RedisStore(ctx.redis, redis_prefix),
                _DatabaseStore(ctx.db),
                self._clock,
                self.display_name,
            )
        else:
            self._store = _DatabaseStore(ctx.db)
        self._paused_until = -math.inf
        self._pending_pause: float | None = None
        self._yield_until = -math.inf  # the lower lane's pause, as far as this process knows
        self._yield_read_at = -math.inf  # monotonic time of the last read of the shared one

    def for_user(self, user_id: str) -> UserBudget:
        """The budget as one user's provider client draws on it."""
        return UserBudget(self, user_id)

    def for_background(self, user_id: str) -> BackgroundBudget:
        """The budget as background work for one user draws on it (the lower lane)."""
        return BackgroundBudget(self, user_id)

    @property
    def interactive_waiting(self) -> int:
        """Interactive requests of this process taking their turn right now."""
        return self._interactive

    def _background_counters(self, user_id: str, now: float) -> list[_Counter]:
        """The lower lane's counters: the app windows minus the reserve, its own user share."""
        counters: list[_Counter] = []
        if self.user_share < 1 and self.share_window is not None:
            shortest = self.share_window
            seconds = max(1, int(shortest.seconds))
            digest = hashlib.sha256(user_id.encode()).hexdigest()[:23]
            counters.append(
                _Counter(
                    key=f"{self.provider}{_USER_MARK}{_BACKGROUND_MARK}{digest}",
                    seconds=seconds,
                    start=int(now // seconds) * seconds,
                    limit=max(1, math.floor(shortest.requests * self.user_share)),
                )
            )
        for limit in reversed(self.limits):
            seconds = max(1, int(limit.seconds))
            counters.append(
                _Counter(
                    key=self.provider,
                    seconds=seconds,
                    start=int(now // seconds) * seconds,
                    limit=max(1, math.floor(limit.requests * (1 - self.background_reserve))),
                )
            )
        return counters

    async def take_background(
        self, user_id: str, endpoint: str | None = None, count: int = 1
    ) -> bool:
        """Count ``count`` background requests, after every interactive one of this process.

        Returns ``False`` (nothing counted) when ``count`` is more than a window of the
        lower lane ever allows.

        Waits (up to ``background_max_wait_s``) while interactive requests take their
        turn, while questions in any process have lately found an app window full (for
        the rest of that window and one shortest window more), and for room below the
        reserve.

        Raises:
            ProviderBusy: no room within ``background_max_wait_s``.
        """
        await self.flush()
        deadline = self._clock.monotonic() + self.background_max_wait_s
        while True:
            left = deadline - self._clock.monotonic()
            if self._interactive > 0:  # people first: step aside, briefly
                if left <= 0:
                    raise self._busy_background(endpoint, _YIELD_S)
                await self._clock.sleep(_YIELD_S)
                continue
            now = self._clock.now().timestamp()
            yielding = await self._yielding_until(now)
            if self._paused_until > now:
                refusal: _Refusal | None = _Refusal(self._paused_until - now, paused=True)
            elif yielding > now:  # questions found the app's budget full: they go first
                refusal = _Refusal(yielding - now, paused=False)
            else:
                counters = self._background_counters(user_id, now)
                if count > min((counter.limit for counter in counters), default=count):
                    return False
                refusal = await self._store.take(self.provider, counters, now, count)
            if refusal is None:
                return True
            wait = max(0.0, refusal.retry_after)
            if refusal.paused:
                self._paused_until = max(self._paused_until, now + wait)
            if wait > left:
                raise self._busy_background(endpoint, wait, refusal)
            await self._clock.sleep(max(wait, 0.001))

    async def _yielding_until(self, now: float) -> float:
        """Until when the lower lane stands aside for questions (read at most every second)."""
        if self._yield_until > now:
            return self._yield_until
        moment = self._clock.monotonic()
        if moment - self._yield_read_at >= _YIELD_CHECK_S:
            self._yield_read_at = moment
            shared = await self._store.paused_until(self.provider + _YIELD_MARK)
            if shared is not None:
                self._yield_until = max(self._yield_until, shared)
        return self._yield_until

    async def _make_way(self, refusal: _Refusal, now: float) -> None:
        """Make background work stand aside after a question found an app window full.

        In every process, until that window ends and for one shortest window after it.
        """
        if refusal.refused is None or refusal.refused.key != self.provider:
            return  # a pause, or the user's own share: background work is not in the way
        until = now + max(0.0, refusal.retry_after) + self.limits[0].seconds
        if until <= self._yield_until + _YIELD_CHECK_S:
            return  # already said (one write per window, not one per refused request)
        self._yield_until = until
        await self._store.pause_until(self.provider + _YIELD_MARK, until, now)

    def _busy_background(
        self, endpoint: str | None, wait: float, refusal: _Refusal | None = None
    ) -> ProviderBusy:
        return ProviderBusy(
            provider=self.provider,
            display_name=self.display_name,
            endpoint=endpoint,
            retry_after=wait,
            reason=BusyReason.APP_BUDGET if refusal is not None else BusyReason.PROVIDER_PAUSE,
            window_s=None
            if refusal is None or refusal.refused is None
            else refusal.refused.seconds,
        )

    def _counters(self, user_id: str | None, now: float) -> list[_Counter]:
        counters: list[_Counter] = []
        if user_id is not None and self.user_share < 1 and self.share_window is not None:
            shortest = self.share_window
            seconds = max(1, int(shortest.seconds))
            digest = hashlib.sha256(user_id.encode()).hexdigest()[:24]
            counters.append(
                _Counter(
                    key=f"{self.provider}{_USER_MARK}{digest}",
                    seconds=seconds,
                    start=int(now // seconds) * seconds,
                    limit=max(1, math.floor(shortest.requests * self.user_share)),
                )
            )
        # App windows last, longest first: every request locks the shared rows in one order.
        for limit in reversed(self.limits):
            seconds = max(1, int(limit.seconds))
            counters.append(
                _Counter(
                    key=self.provider,
                    seconds=seconds,
                    start=int(now // seconds) * seconds,
                    limit=limit.requests,
                )
            )
        return counters

    async def take(self, user_id: str | None, endpoint: str | None = None, count: int = 1) -> bool:
        """Count ``count`` requests (all or none), waiting up to ``max_wait_s`` for room.

        Returns ``False`` (nothing counted) when ``count`` is more than a window ever
        allows.

        Raises:
            ProviderBusy: the budget is spent or paused for longer than ``max_wait_s``.
        """
        self._interactive += 1
        try:
            return await self._take(user_id, endpoint, count)
        finally:
            self._interactive -= 1

    async def _take(self, user_id: str | None, endpoint: str | None, count: int) -> bool:
        await self.flush()
        while True:
            now = self._clock.now().timestamp()
            if self._paused_until > now:
                refusal: _Refusal | None = _Refusal(self._paused_until - now, paused=True)
            else:
                counters = self._counters(user_id, now)
                if count > min((counter.limit for counter in counters), default=count):
                    return False
                refusal = await self._store.take(self.provider, counters, now, count)
            if refusal is None:
                return True
            await self._make_way(refusal, now)
            wait = max(0.0, refusal.retry_after)
            if refusal.paused:
                self._paused_until = max(self._paused_until, now + wait)
            if wait > self.max_wait_s:
                if refusal.paused:  # spread the comeback: not everyone at the same second
                    wait += random.uniform(0, min(10.0, wait * 0.2))
                reason = self._reason(refusal)
                logger.info(
                    "%s budget refused a request for %.0f s (%s)",
                    self.display_name,
                    wait,
                    reason.value,
                )
                raise ProviderBusy(
                    provider=self.provider,
                    display_name=self.display_name,
                    endpoint=endpoint,
                    retry_after=wait,
                    reason=reason,
                    window_s=None if refusal.refused is None else refusal.refused.seconds,
                )
            await self._clock.sleep(max(wait, 0.001))

    @staticmethod
    def _reason(refusal: _Refusal) -> BusyReason:
        if refusal.paused or refusal.refused is None:
            return BusyReason.PROVIDER_PAUSE
        if _USER_MARK in refusal.refused.key:
            return BusyReason.USER_SHARE
        return BusyReason.APP_BUDGET

    def pause(self, seconds: float) -> None:
        """Hold every worker's requests for ``seconds`` (stored by the next `flush`)."""
        seconds = min(max(0.0, seconds), _MAX_PAUSE_S)
        until = self._clock.now().timestamp() + seconds
        self._paused_until = max(self._paused_until, until)
        self._pending_pause = max(self._pending_pause or -math.inf, until)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Pause the app when the provider says no requests remain until its reset."""
        remaining = parse_count(headers.get("x-ratelimit-remaining"))
        reset = parse_seconds(headers.get("x-ratelimit-reset"))
        if remaining is not None and remaining <= 0 and reset is not None:
            self.pause(reset)

    async def flush(self) -> None:
        """Share a pause noted by `pause` or `observe` with every worker."""
        until = self._pending_pause
        if until is None:
            return
        self._pending_pause = None
        await self._store.pause_until(self.provider, until, self._clock.now().timestamp())
        logger.warning(
            "%s asked us to slow down; every worker pauses for %.0f s",
            self.display_name,
            until - self._clock.now().timestamp(),
        )


class UserBudget:
    """`UpstreamBudget` as one user's provider client sees it (a `RequestBudget`).

    Attributes:
        requests: Requests this view let through (upstream calls per Wellpipe request).
    """

    def __init__(self, budget: UpstreamBudget, user_id: str) -> None:
        self.budget = budget
        self.user_id = user_id
        self.requests = 0
        self._prepaid = 0  # counted by `reserve`, not sent yet

    async def acquire(self, endpoint: str | None = None) -> None:
        """Count one request against the app and the user's share, or raise `ProviderBusy`."""
        if self._prepaid > 0:
            self._prepaid -= 1
        else:
            await self._take(endpoint, 1)
        self.requests += 1

    async def reserve(self, count: int, endpoint: str | None = None) -> None:
        """Count ``count`` requests at once, all or none (a `BatchBudget`).

        A batch larger than a window ever allows is not counted here: its requests are
        counted one by one as they go.

        Raises:
            ProviderBusy: no room for all of them (nothing was counted).
        """
        if await self._take(endpoint, count):
            self._prepaid += count

    async def _take(self, endpoint: str | None, count: int) -> bool:
        return await self.budget.take(self.user_id, endpoint, count)

    def pause(self, seconds: float) -> None:
        """Pause the whole app (see `UpstreamBudget.pause`)."""
        self.budget.pause(seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """See `UpstreamBudget.observe`."""
        self.budget.observe(headers)

    async def flush(self) -> None:
        """See `UpstreamBudget.flush`."""
        await self.budget.flush()


class BackgroundBudget(UserBudget):
    """`UpstreamBudget` as background work for one user draws on it (a `RequestBudget`).

    The same view as `UserBudget` (pauses, observations, flushes and batches are the
    app's), but each request is counted in the lower lane.

    Attributes:
        requests: Requests this view let through.
    """

    async def _take(self, endpoint: str | None, count: int) -> bool:
        return await self.budget.take_background(self.user_id, endpoint, count)


def budget_for(ctx: CloudContext, provider: str) -> UpstreamBudget:
    """This process's handle on a provider app's shared budget (made on first use)."""
    budgets = ctx.state.budgets
    budget = budgets.get(provider)
    if budget is None:
        budget = budgets[provider] = UpstreamBudget(
            ctx, provider=provider, background_reserve=ctx.settings.background_reserve
        )
    return budget


SLICES = 3
"""Each published per-minute (or per-hour) window is also counted in thirds (`sliding_safe`):
bursts of a third of the limit still pass at once, which a question of several requests
needs; finer slices would refuse them."""


def sliding_safe(limits: Sequence[RateLimit]) -> tuple[RateLimit, ...]:
    """``limits`` plus, for each window of an hour or less, a cap per third of it.

    Windows here are fixed and aligned to the clock; a provider may count over a sliding
    window instead (WHOOP does not say). Two bursts either side of a minute's edge can then
    put up to twice the limit in one sliding minute. Any sliding window of length T spans at
    most 4 thirds, so a cap of ``n // 4`` per third keeps every sliding T within ``n``
    (WHOOP's 100 a minute: at most 25 per 20 s, 75 a minute sustained). Daily limits are
    left as they are (they reset once a day).
    """
    slices = [
        RateLimit(limit.requests // (SLICES + 1), limit.seconds / SLICES)
        for limit in limits
        if limit.seconds <= 3600 and limit.requests >= SLICES + 1
    ]
    return (*limits, *slices)


def install_budget(ctx: CloudContext, budget: UpstreamBudget) -> None:
    """Use ``budget`` for its provider in this process (tests and operators tune limits)."""
    ctx.state.budgets[budget.provider] = budget
