"""Metering: the monthly quota, the per-minute burst limit, and the usage record.

What counts
    One `charge` per authenticated, authorised data request (a REST data endpoint or an
    MCP ``tools/call``). Failed authentication, refusals (429), ``initialize``/``tools/list``
    and health checks are not charged. A request that fails because the provider failed
    (5xx, 429, timeout) is given back with `refund`.

The monthly quota (FREE)
    The window is the calendar month in UTC: period ``YYYY-MM``, reset at 00:00:00 UTC on
    the 1st, the same instant for every user wherever they live. The check and the
    increment are one statement, ``INSERT … ON CONFLICT (user_id, period) DO UPDATE SET
    count = count + 1 WHERE count < limit RETURNING count``: no row back means over
    quota, and no concurrency can overshoot. PRO has no monthly cap but is still counted
    (same statement without the ``WHERE``), so a downgrade re-applies the cap against the
    month's real count. The plan is the one read with the key on this request, so plan
    changes apply on the next request.

The burst limit (every plan)
    ``burst_per_minute`` requests per user per fixed UTC minute, shared by all workers: an
    atomic Lua ``INCR``+``EXPIRE`` in Redis when configured, else an upsert into
    ``upstream_windows`` under the bucket name ``burst:<digest of the user id>``. When
    Redis fails, the database takes over for 30 s (never fail open). The burst limit is
    checked first: a burst refusal takes nothing from the month. A request refused by the
    monthly quota still used a burst slot.

Headers (every charged response, the 429 included)
    FREE: ``X-RateLimit-Limit`` = the monthly limit, ``X-RateLimit-Remaining`` = limit minus
    the month's count (never negative), ``X-RateLimit-Reset`` = the next reset as an
    ISO-8601 UTC instant (``2026-02-01T00:00:00Z``). PRO has no monthly limit, so the three
    describe the burst policy instead (limit per minute, remaining this minute, the next
    minute's start). Both plans also get the IETF pair, e.g. ``RateLimit-Policy:
    "monthly";q=1000;w=2678400, "burst";q=60;w=60`` and ``RateLimit:
    "monthly";r=980;t=86400, "burst";r=59;t=42`` (``t`` in seconds; PRO: the burst item
    only). A refusal adds ``Retry-After`` in delta-seconds: to the end of the minute for the
    burst limit; to the month's reset plus 0-60 s of per-user jitter for the quota, so
    clients do not all return at the same instant.

The usage record
    Allowed requests are counted per (user, UTC day, endpoint) in ``usage_daily``, together
    with the monthly counter: on PostgreSQL in the same statement (a data-modifying
    ``WITH``, committed at once, so a busy user's rows are never locked across a round
    trip), on SQLite in the same transaction. `usage_summary` reads it for the dashboard.

The statements and how they run live in `wellpipe.cloud.db.metering`; this module decides
what to count and what a refusal says.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import metering
from wellpipe.cloud.services.audit import event_row
from wellpipe.cloud.services.keys import KeyClaim, Principal, touch_if_due

__all__ = [
    "BURST_WINDOW_S",
    "Admission",
    "Charge",
    "DayUsage",
    "EndpointUsage",
    "Meter",
    "UsageSummary",
    "admit",
    "burst_bucket",
    "charge",
    "meter",
    "month_period",
    "next_month_start",
    "refund",
    "usage_summary",
]

logger = logging.getLogger(__name__)

BURST_WINDOW_S = 60
ENDPOINT_MAX_LENGTH = 64
UNLIMITED_PLANS = frozenset({"PRO"})
_QUOTA_AUDIT_EVERY = timedelta(hours=1)
REDIS_RETRY_AFTER_S = 30.0
"""After a Redis failure, the database limiter is used for this long before Redis is tried again."""
_BURST_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class Charge:
    """The outcome of charging one request.

    Attributes:
        allowed: Whether to serve it.
        headers: Rate-limit headers for the response (with ``Retry-After`` when refused).
        reason: ``"quota"`` or ``"burst"`` when refused, else ``None``.
        reset_at: When ``X-RateLimit-Reset`` says the limit resets (next month start;
            for PRO the next minute start).
        retry_after_s: Seconds to wait, when refused.
        sentence: What happened and what to do, when refused.
        at: When it was charged (pass to `refund`).
        month_count: The month's count after this request (``None`` if not read).
        limit: The monthly limit (``None`` for PRO).
        burst_limit: Requests allowed per minute.
        burst_remaining: Requests left this minute.
        burst_reset: When this minute ends.
    """

    allowed: bool
    headers: dict[str, str]
    reason: Literal["quota", "burst"] | None
    reset_at: datetime
    retry_after_s: int | None
    sentence: str | None
    at: datetime
    month_count: int | None
    limit: int | None
    burst_limit: int = 0
    burst_remaining: int = 0
    burst_reset: datetime | None = None

    def given_back(self) -> Charge:
        """This charge after `refund`: one more request left this month.

        Both header families say so alike; the burst slot stays used (the request did
        reach the budget).
        """
        if not self.allowed or self.limit is None or self.month_count is None:
            return self
        month_count = max(0, self.month_count - 1)
        headers = _headers(
            now=self.at,
            limit=self.limit,
            month_count=month_count,
            reset_at=self.reset_at,
            burst_limit=self.burst_limit,
            burst_remaining=self.burst_remaining,
            burst_reset=self.burst_reset or self.at,
            retry_after_s=self.retry_after_s,
        )
        return replace(self, headers=headers, month_count=month_count)


@dataclass(frozen=True)
class DayUsage:
    """Counted requests on one UTC day."""

    day: date
    count: int


@dataclass(frozen=True)
class EndpointUsage:
    """Counted requests at one endpoint (REST route or MCP tool) over the summary's days."""

    endpoint: str
    count: int


@dataclass(frozen=True)
class UsageSummary:
    """A user's usage, for the dashboard.

    Attributes:
        plan: ``FREE`` or ``PRO``.
        period: The current month, ``YYYY-MM`` (UTC).
        month_count: Counted requests this month.
        limit: The monthly limit (``None``: unlimited).
        remaining: Requests left this month (``None``: unlimited).
        reset_at: When the month resets (00:00 UTC on the 1st).
        burst_per_minute: The per-minute limit, every plan.
        daily: One entry per UTC day, oldest first, days without requests included.
        endpoints: Totals per endpoint over those days, largest first.
    """

    plan: str
    period: str
    month_count: int
    limit: int | None
    remaining: int | None
    reset_at: datetime
    burst_per_minute: int
    daily: list[DayUsage]
    endpoints: list[EndpointUsage]


def month_period(at: datetime) -> str:
    """The quota period of an instant: its calendar month in UTC, ``YYYY-MM``."""
    utc = at.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"  # not strftime: this runs on every request


def _month_start(at: datetime) -> datetime:
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month_start(at: datetime) -> datetime:
    """The instant the quota period of ``at`` ends: 00:00:00 UTC on the next month's 1st."""
    utc = at.astimezone(UTC)
    if utc.month == 12:
        return datetime(utc.year + 1, 1, 1, tzinfo=UTC)
    return datetime(utc.year, utc.month + 1, 1, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_until(later: datetime, now: datetime) -> int:
    return max(1, math.ceil((later - now).total_seconds()))


def burst_bucket(user_id: str) -> str:
    """The ``upstream_windows.provider`` name of a user's burst counter (fits 32 characters)."""
    return "burst:" + hashlib.sha256(user_id.encode()).hexdigest()[:26]


def _jitter_s(user_id: str) -> int:
    # Stable per user and spread across users: 0-60 s after the reset.
    return int.from_bytes(hashlib.sha256(b"jitter:" + user_id.encode()).digest()[:2]) % 61


def _limit_for(ctx: CloudContext, plan: str) -> int | None:
    return None if plan in UNLIMITED_PLANS else ctx.settings.free_monthly_limit


class Meter:
    """What metering keeps in one process: its statements, Redis's script, recent events.

    Attributes:
        statements: The metering statements, built on first use.
        redis_script: The burst script, registered with the Redis client it belongs to.
        redis_down_until: Until when (monotonic) the database counts the burst instead.
        quota_audited: When each user's ``quota.exceeded`` was last audited here.
    """

    def __init__(self) -> None:
        self.statements: metering.MeterStatements | None = None
        self.redis_script: tuple[Any, Any] | None = None
        self.redis_down_until = float("-inf")
        self.quota_audited: dict[str, datetime] = {}


def meter(ctx: CloudContext) -> Meter:
    """This process's metering state."""
    found = ctx.state.meter
    if found is None:
        found = ctx.state.meter = Meter()
    return found


async def _redis_burst(ctx: CloudContext, user_id: str, window_start: int) -> int | None:
    """This minute's count after this request, from Redis; ``None`` if Redis failed."""
    redis = ctx.redis
    held = meter(ctx)
    if redis is None or ctx.clock.monotonic() < held.redis_down_until:
        return None
    if held.redis_script is None or held.redis_script[0] is not redis:
        held.redis_script = (redis, redis.register_script(_BURST_LUA))
    key = f"wellpipe:burst:{user_id}:{window_start}"
    try:
        return int(await held.redis_script[1](keys=[key], args=[2 * BURST_WINDOW_S]))
    except Exception as error:  # any Redis failure: the database limiter takes over a while
        now = ctx.clock.monotonic()
        first = held.redis_down_until < now  # one warning per outage, not per request
        held.redis_down_until = now + REDIS_RETRY_AFTER_S
        if first:
            logger.warning(
                "Redis burst limiter failed (%s); using the database for %.0f s",
                type(error).__name__,
                REDIS_RETRY_AFTER_S,
            )
        return None


def _statements(ctx: CloudContext) -> metering.MeterStatements:
    """The metering statements of ``ctx``'s database, built once per process."""
    held = meter(ctx)
    if held.statements is None:
        held.statements = metering.MeterStatements(ctx.db, burst_window_s=BURST_WINDOW_S)
    return held.statements


class _Counted(NamedTuple):
    reason: Literal["quota", "burst"] | None
    burst_count: int  # this minute's count (the limit when the minute was full)
    month_count: int  # the month's count after this request (what is known when refused)


@dataclass(frozen=True)
class _Moment:
    """One request's place in the limits' windows, all from one reading of the clock."""

    now: datetime
    period: str
    month_reset: datetime
    window_start: int
    burst_reset: datetime

    @classmethod
    def of(cls, ctx: CloudContext) -> _Moment:
        now = ctx.clock.now().astimezone(UTC)
        window_start = int(now.timestamp()) // BURST_WINDOW_S * BURST_WINDOW_S
        return cls(
            now=now,
            period=month_period(now),
            month_reset=next_month_start(now),
            window_start=window_start,
            burst_reset=datetime.fromtimestamp(window_start + BURST_WINDOW_S, UTC),
        )

    def params(self, user_id: str, endpoint: str, limit: int | None, burst: int) -> dict[str, Any]:
        """The parameters every metering statement draws from."""
        return metering.request_params(
            user_id=user_id,
            period=self.period,
            day=self.now.date(),
            endpoint=endpoint,
            limit=limit,
            bucket=burst_bucket(user_id),
            window_start=self.window_start,
            burst_limit=burst,
        )


def _verdict(
    burst_count: int | None, month_count: int | None, *, limit: int | None, burst_limit: int
) -> _Counted:
    """What the counters said: ``None`` from an upsert whose ``WHERE`` held it back."""
    if burst_count is None or burst_count > burst_limit:
        return _Counted("burst", burst_limit, month_count or 0)
    if month_count is None:
        return _Counted("quota", burst_count, limit or 0)
    return _Counted(None, burst_count, int(month_count))


async def _count(
    ctx: CloudContext, params: dict[str, Any], *, burst_count: int | None, limit: int | None
) -> _Counted:
    """Burst (unless Redis counted it), then month and day."""
    tally = await metering.count_request(
        ctx.db, _statements(ctx), params, burst_count=burst_count, limit=limit
    )
    return _verdict(
        tally.burst, tally.month, limit=limit, burst_limit=ctx.settings.burst_per_minute
    )


def _headers(
    *,
    now: datetime,
    limit: int | None,
    month_count: int,
    reset_at: datetime,
    burst_limit: int,
    burst_remaining: int,
    burst_reset: datetime,
    retry_after_s: int | None,
) -> dict[str, str]:
    month_start = _month_start(now)
    burst_policy = f'"burst";q={burst_limit};w={BURST_WINDOW_S}'
    burst_state = f'"burst";r={burst_remaining};t={_seconds_until(burst_reset, now)}'
    if limit is None:
        headers = {
            "X-RateLimit-Limit": str(burst_limit),
            "X-RateLimit-Remaining": str(burst_remaining),
            "X-RateLimit-Reset": _iso(burst_reset),
            "RateLimit-Policy": burst_policy,
            "RateLimit": burst_state,
        }
    else:
        remaining = max(0, limit - month_count)
        window = int((reset_at - month_start).total_seconds())
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _iso(reset_at),
            "RateLimit-Policy": f'"monthly";q={limit};w={window}, {burst_policy}',
            "RateLimit": (
                f'"monthly";r={remaining};t={_seconds_until(reset_at, now)}, {burst_state}'
            ),
        }
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return headers


async def charge(
    ctx: CloudContext, principal: Principal, endpoint: str, *, request_id: str | None = None
) -> Charge:
    """Count one request of ``principal`` at ``endpoint``, or refuse it.

    Args:
        ctx: The service context.
        principal: Who the request acts for (from `authenticate`: its plan is current).
        endpoint: The REST route or MCP tool name (for the usage chart; cut at 64 chars).
        request_id: The request's id, for the audit log.

    Returns:
        Whether to serve the request, and the headers to send either way.
    """
    moment = _Moment.of(ctx)
    user_id = principal.user_id
    limit = _limit_for(ctx, principal.plan)
    params = moment.params(
        user_id, endpoint[:ENDPOINT_MAX_LENGTH], limit, ctx.settings.burst_per_minute
    )
    burst_count = await _redis_burst(ctx, user_id, moment.window_start)
    counted = await _count(ctx, params, burst_count=burst_count, limit=limit)
    return await _settle(ctx, user_id, limit, moment, counted, request_id)


@dataclass(frozen=True)
class Admission:
    """A request whose key was confirmed and which was charged, in one database round trip.

    Attributes:
        principal: Who it acts for.
        charge: The outcome of charging it (it may be refused).
    """

    principal: Principal
    charge: Charge


async def admit(
    ctx: CloudContext, claim: KeyClaim, endpoint: str, *, request_id: str | None = None
) -> Admission | None:
    """Confirm a recalled key (`recall`) and charge the request, in one unit of work.

    The steady-state path of a data request: one statement on PostgreSQL, one thread
    hand-over on SQLite, where `authenticate` then `charge` take several.

    Returns:
        ``None`` when this path does not decide: the claim no longer holds (the key was
        revoked or replaced, the account deleted, the plan changed), or Redis counts the
        burst limit (which must not count a request whose key then fails). Authenticate
        the key in full and `charge` instead.
    """
    if ctx.redis is not None:
        return None
    moment = _Moment.of(ctx)
    limit = _limit_for(ctx, claim.plan)
    params = moment.params(
        claim.user_id, endpoint[:ENDPOINT_MAX_LENGTH], limit, ctx.settings.burst_per_minute
    )
    admitted = await metering.admit_request(
        ctx.db,
        _statements(ctx),
        params,
        key_id=claim.key_id,
        secret_hash=claim.secret_hash,
        plan=claim.plan,
        limit=limit,
    )
    if admitted is None:
        return None
    last_used_at, tally = admitted
    counted = _verdict(
        tally.burst, tally.month, limit=limit, burst_limit=ctx.settings.burst_per_minute
    )
    await touch_if_due(ctx, claim.key_id, last_used_at)
    principal = Principal(user_id=claim.user_id, key_id=claim.key_id, plan=claim.plan)
    settled = await _settle(ctx, claim.user_id, limit, moment, counted, request_id)
    return Admission(principal=principal, charge=settled)


async def _settle(
    ctx: CloudContext,
    user_id: str,
    limit: int | None,
    moment: _Moment,
    counted: _Counted,
    request_id: str | None,
) -> Charge:
    """The charge's outcome: headers either way, the sentence and audit when refused."""
    reason, burst_count, month_count = counted
    now = moment.now
    burst_limit = ctx.settings.burst_per_minute
    retry_after: int | None = None
    sentence: str | None = None
    if reason == "burst":
        retry_after = _seconds_until(moment.burst_reset, now)
        sentence = (
            f"Too many requests: the limit is {burst_limit} per minute; "
            f"retry in {retry_after} seconds."
        )
    elif reason == "quota":
        month_reset = moment.month_reset
        retry_after = _seconds_until(month_reset, now) + _jitter_s(user_id)
        sentence = (
            f"You have used this month's {limit} requests of the FREE plan; they reset on "
            f"{month_reset.day} {month_reset:%B %Y} at 00:00 UTC, or upgrade to PRO in the "
            "dashboard."
        )
        await _note_quota_exceeded(ctx, user_id, now, moment.period, limit, request_id)
    headers = _headers(
        now=now,
        limit=limit,
        month_count=month_count,
        reset_at=moment.month_reset,
        burst_limit=burst_limit,
        burst_remaining=max(0, burst_limit - burst_count),
        burst_reset=moment.burst_reset,
        retry_after_s=retry_after,
    )
    return Charge(
        allowed=reason is None,
        headers=headers,
        reason=reason,
        reset_at=moment.month_reset if limit is not None else moment.burst_reset,
        retry_after_s=retry_after,
        sentence=sentence,
        at=now,
        month_count=month_count if reason != "burst" or limit is not None else None,
        limit=limit,
        burst_limit=burst_limit,
        burst_remaining=max(0, burst_limit - burst_count),
        burst_reset=moment.burst_reset,
    )


async def _note_quota_exceeded(
    ctx: CloudContext,
    user_id: str,
    now: datetime,
    period: str,
    limit: int | None,
    request_id: str | None,
) -> None:
    """Audit ``quota.exceeded`` at most once per user and hour (across workers, nearly)."""
    memo = meter(ctx).quota_audited
    last = memo.get(user_id)
    if last is not None and now - last < _QUOTA_AUDIT_EVERY:
        return
    row = event_row(
        user_id=user_id,
        event="quota.exceeded",
        at=now,
        detail={"period": period, "limit": limit},
        request_id=request_id,
    )
    await metering.append_audit_unless_recent(ctx.db, row, since=now - _QUOTA_AUDIT_EVERY)
    if len(memo) >= 10_000:
        memo.clear()
    memo[user_id] = now


async def refund(
    ctx: CloudContext, principal: Principal, endpoint: str, *, at: datetime | None = None
) -> None:
    """Give back an allowed request that failed upstream (provider 5xx, 429 or timeout).

    Args:
        ctx: The service context.
        principal: Whose request it was.
        endpoint: The endpoint it was charged to.
        at: When it was charged (`Charge.at`; default now), so a refund just after
            midnight on the 1st goes to the right month and day.

    The burst slot is not given back: the request did reach the provider's shared budget.
    """
    when = (at or ctx.clock.now()).astimezone(UTC)
    await metering.give_back(
        ctx.db,
        user_id=principal.user_id,
        period=month_period(when),
        day=when.date(),
        endpoint=endpoint[:ENDPOINT_MAX_LENGTH],
    )


async def usage_summary(ctx: CloudContext, user_id: str, days: int = 30) -> UsageSummary:
    """The user's month so far, and per-day and per-endpoint totals over ``days`` UTC days."""
    now = ctx.clock.now().astimezone(UTC)
    today = now.date()
    first = today - timedelta(days=max(1, days) - 1)
    period = month_period(now)
    stored = await metering.read_usage(ctx.db, user_id, period=period, since=first)
    plan = stored.plan or "FREE"
    month_count = stored.month_count
    endpoints = sorted(
        (EndpointUsage(name, total) for name, total in stored.per_endpoint if total),
        key=lambda item: (-item.count, item.endpoint),
    )
    limit = _limit_for(ctx, plan)
    span = (today - first).days + 1
    return UsageSummary(
        plan=plan,
        period=period,
        month_count=month_count,
        limit=limit,
        remaining=None if limit is None else max(0, limit - month_count),
        reset_at=next_month_start(now),
        burst_per_minute=ctx.settings.burst_per_minute,
        daily=[
            DayUsage(day, stored.per_day.get(day, 0))
            for day in (first + timedelta(days=offset) for offset in range(span))
        ],
        endpoints=endpoints,
    )
