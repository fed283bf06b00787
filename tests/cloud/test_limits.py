"""Metering: the monthly quota (exact under concurrency, across processes), its headers, the
month boundary, plan changes, the burst limit (database and Redis), refunds, the summary."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from pydantic import SecretStr
from sqlalchemy import func, select, update

from tests.cloud.conftest import (
    drop_postgres_database,
    fresh_postgres_database,
    require_service,
)
from tests.cloud.limits_support import REDIS_URL, add_user, open_context, redis_reachable
from tests.fakes import FakeClock
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.tables import UpstreamWindow, UsageCounter, UsageDaily, User
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services import keys
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.services.keys import Principal
from wellpipe.cloud.services.limits import (
    REDIS_RETRY_AFTER_S,
    DayUsage,
    EndpointUsage,
    burst_bucket,
    charge,
    month_period,
    next_month_start,
    refund,
    usage_summary,
)
from wellpipe.cloud.settings import CloudSettings

REPO = Path(__file__).resolve().parents[2]
MID_JANUARY = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
OpenContext = Callable[..., Awaitable[CloudContext]]


@pytest.fixture
async def open_ctx(cloud_settings: CloudSettings) -> AsyncIterator[OpenContext]:
    """Contexts over the test database with setting overrides (each its own engine)."""
    opened: list[CloudContext] = []

    async def make(clock: FakeClock, **overrides: Any) -> CloudContext:
        ctx = await open_context(cloud_settings.model_copy(update=overrides), clock)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        if ctx.redis is not None:
            await ctx.redis.aclose()
        await ctx.db.dispose()


async def _principal(ctx: CloudContext, plan: str = "FREE") -> Principal:
    return Principal(user_id=await add_user(ctx, plan=plan), key_id="k", plan=plan)


async def _counters(ctx: CloudContext, user_id: str) -> dict[str, int]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(UsageCounter.period, UsageCounter.count).where(UsageCounter.user_id == user_id)
        )
        return dict(rows.all())


async def _daily_total(ctx: CloudContext, user_id: str) -> int:
    async with ctx.db.sessions() as session:
        total = await session.scalar(
            select(func.sum(UsageDaily.count)).where(UsageDaily.user_id == user_id)
        )
        return int(total or 0)


def _ratelimit_items(value: str) -> dict[str, dict[str, int]]:
    items: dict[str, dict[str, int]] = {}
    for item in value.split(", "):
        name, *params = item.split(";")
        items[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return items


# ---------------------------------------------------------------- periods (pure)


@pytest.mark.parametrize(
    ("instant", "period", "reset"),
    [
        (datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC), "2026-01", datetime(2026, 2, 1)),
        (datetime(2026, 2, 1, tzinfo=UTC), "2026-02", datetime(2026, 3, 1)),
        (datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC), "2028-02", datetime(2028, 3, 1)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-12", datetime(2027, 1, 1)),
        # 1 Feb 13:00 in UTC+14 and 31 Jan 11:00 in UTC-12 are both 31 Jan 23:00 UTC.
        (datetime(2026, 2, 1, 13, tzinfo=timezone(timedelta(hours=14))), "2026-01", None),
        (datetime(2026, 1, 31, 11, tzinfo=timezone(timedelta(hours=-12))), "2026-01", None),
    ],
)
def test_the_period_is_the_calendar_month_in_utc(
    instant: datetime, period: str, reset: datetime | None
) -> None:
    assert month_period(instant) == period
    expected = (reset or datetime(2026, 2, 1)).replace(tzinfo=UTC)
    assert next_month_start(instant) == expected
    assert next_month_start(instant).tzinfo is UTC


# ---------------------------------------------------------------- the monthly quota


async def test_headers_on_every_request_up_to_and_past_the_limit(open_ctx: OpenContext) -> None:
    clock = FakeClock(MID_JANUARY)
    ctx = await open_ctx(clock, free_monthly_limit=20, burst_per_minute=1000)
    principal = await _principal(ctx)
    reset = datetime(2026, 2, 1, tzinfo=UTC)
    remaining_seen: list[int] = []
    for n in range(1, 26):
        result = await charge(ctx, principal, "rest:health")
        headers = result.headers
        now = clock.now()
        remaining = max(0, 20 - n)
        assert headers["X-RateLimit-Limit"] == "20"
        assert headers["X-RateLimit-Remaining"] == str(remaining)
        assert headers["X-RateLimit-Reset"] == "2026-02-01T00:00:00Z"
        assert result.reset_at == reset
        assert _ratelimit_items(headers["RateLimit-Policy"]) == {
            "monthly": {"q": 20, "w": 31 * 86400},
            "burst": {"q": 1000, "w": 60},
        }
        state = _ratelimit_items(headers["RateLimit"])
        assert state["monthly"] == {"r": remaining, "t": math.ceil((reset - now).total_seconds())}
        remaining_seen.append(int(headers["X-RateLimit-Remaining"]))
        if n <= 20:
            assert result.allowed
            assert result.reason is None
            assert "Retry-After" not in headers
            assert result.retry_after_s is None
            assert result.sentence is None
        else:
            assert not result.allowed
            assert result.reason == "quota"
            to_reset = (reset - now).total_seconds()
            assert to_reset <= int(headers["Retry-After"]) <= to_reset + 61
            assert result.retry_after_s == int(headers["Retry-After"])
            assert result.sentence is not None
            assert "1 February 2026" in result.sentence
            assert "upgrade to PRO" in result.sentence
        clock.advance(3600)
    assert remaining_seen == sorted(remaining_seen, reverse=True)
    assert min(remaining_seen) == 0
    assert await _counters(ctx, principal.user_id) == {"2026-01": 20}
    assert await _daily_total(ctx, principal.user_id) == 20


async def test_the_month_turns_at_midnight_utc_on_the_first(open_ctx: OpenContext) -> None:
    clock = FakeClock(datetime(2026, 1, 31, 23, 59, 59, 998000, tzinfo=UTC))
    ctx = await open_ctx(clock, free_monthly_limit=2, burst_per_minute=1000)
    principal = await _principal(ctx)
    assert (await charge(ctx, principal, "e")).allowed
    clock.advance(0.001)  # 23:59:59.999
    last_of_january = await charge(ctx, principal, "e")
    assert last_of_january.allowed
    assert last_of_january.headers["X-RateLimit-Remaining"] == "0"
    assert last_of_january.headers["X-RateLimit-Reset"] == "2026-02-01T00:00:00Z"
    assert _ratelimit_items(last_of_january.headers["RateLimit"])["monthly"]["t"] == 1
    refused = await charge(ctx, principal, "e")
    assert refused.reason == "quota"
    assert 1 <= refused.retry_after_s <= 61  # type: ignore[operator]

    clock.advance(0.001)  # 00:00:00.000 on 1 February
    assert clock.now() == datetime(2026, 2, 1, tzinfo=UTC)
    first_of_february = await charge(ctx, principal, "e")
    assert first_of_february.allowed
    assert first_of_february.headers["X-RateLimit-Remaining"] == "1"
    assert first_of_february.headers["X-RateLimit-Reset"] == "2026-03-01T00:00:00Z"
    assert _ratelimit_items(first_of_february.headers["RateLimit-Policy"])["monthly"]["w"] == (
        28 * 86400
    )
    assert await _counters(ctx, principal.user_id) == {"2026-01": 2, "2026-02": 1}
    async with ctx.db.sessions() as session:
        days = dict(
            (
                await session.execute(
                    select(UsageDaily.day, UsageDaily.count).where(
                        UsageDaily.user_id == principal.user_id
                    )
                )
            ).all()
        )
    assert days == {date(2026, 1, 31): 2, date(2026, 2, 1): 1}


async def test_plan_changes_apply_on_the_next_request_both_ways(
    open_ctx: OpenContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)
    clock = FakeClock(MID_JANUARY)
    ctx = await open_ctx(clock, free_monthly_limit=3, burst_per_minute=1000)
    user_id = await add_user(ctx)
    key = (await keys.create_key(ctx, user_id=user_id, name="laptop")).full_key

    async def request() -> bool:
        principal = await keys.authenticate(ctx, key)  # the plan is read with the key
        assert principal is not None
        return (await charge(ctx, principal, "rest:health")).allowed

    async def set_plan(plan: str) -> None:
        async with ctx.db.transaction() as session:
            await session.execute(update(User).where(User.id == user_id).values(plan=plan))

    assert [await request() for _ in range(4)] == [True, True, True, False]
    await set_plan("PRO")
    assert [await request() for _ in range(3)] == [True, True, True]
    assert await _counters(ctx, user_id) == {"2026-01": 6}  # PRO is counted, uncapped
    await set_plan("FREE")
    assert await request() is False  # 6 >= 3: the cap applies to the month's real count
    assert await _counters(ctx, user_id) == {"2026-01": 6}


async def test_pro_headers_describe_the_burst_policy(open_ctx: OpenContext) -> None:
    clock = FakeClock(MID_JANUARY + timedelta(seconds=15))
    ctx = await open_ctx(clock, burst_per_minute=60)
    principal = await _principal(ctx, plan="PRO")
    result = await charge(ctx, principal, "rest:health")
    assert result.allowed
    assert result.limit is None
    assert result.month_count == 1
    assert result.headers == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "59",
        "X-RateLimit-Reset": "2026-01-10T12:01:00Z",
        "RateLimit-Policy": '"burst";q=60;w=60',
        "RateLimit": '"burst";r=59;t=45',
    }
    assert result.reset_at == datetime(2026, 1, 10, 12, 1, tzinfo=UTC)


async def test_a_limit_of_zero_refuses_everything(open_ctx: OpenContext) -> None:
    ctx = await open_ctx(FakeClock(MID_JANUARY), free_monthly_limit=0)
    principal = await _principal(ctx)
    result = await charge(ctx, principal, "e")
    assert result.reason == "quota"
    assert result.headers["X-RateLimit-Remaining"] == "0"
    assert await _counters(ctx, principal.user_id) == {}


# ---------------------------------------------------------------- the burst limit


async def test_burst_limit_per_user_per_minute_not_counted_against_the_month(
    open_ctx: OpenContext,
) -> None:
    clock = FakeClock(MID_JANUARY + timedelta(seconds=10))
    ctx = await open_ctx(clock, free_monthly_limit=1000, burst_per_minute=5)
    alice, bob, carol = await _principal(ctx), await _principal(ctx), await _principal(ctx, "PRO")
    for principal in (alice, carol):
        assert [(await charge(ctx, principal, "e")).allowed for _ in range(7)] == [True] * 5 + [
            False
        ] * 2
    refused = await charge(ctx, alice, "e")
    assert refused.reason == "burst"
    assert refused.retry_after_s == 50
    assert refused.headers["Retry-After"] == "50"
    assert refused.headers["X-RateLimit-Remaining"] == "995"  # the month is untouched
    assert _ratelimit_items(refused.headers["RateLimit"])["burst"] == {"r": 0, "t": 50}
    assert refused.sentence is not None
    assert "5 per minute" in refused.sentence
    pro_refused = await charge(ctx, carol, "e")
    assert pro_refused.headers["X-RateLimit-Remaining"] == "0"
    assert pro_refused.headers["X-RateLimit-Reset"] == "2026-01-10T12:01:00Z"
    assert (await charge(ctx, bob, "e")).allowed  # other users are unaffected
    assert await _counters(ctx, alice.user_id) == {"2026-01": 5}
    assert await _counters(ctx, carol.user_id) == {"2026-01": 5}

    clock.advance(50)  # the next minute
    assert (await charge(ctx, alice, "e")).allowed
    async with ctx.db.sessions() as session:
        windows = (
            await session.scalars(
                select(UpstreamWindow.window_start).where(
                    UpstreamWindow.provider == burst_bucket(alice.user_id)
                )
            )
        ).all()
    assert windows == [int((MID_JANUARY + timedelta(minutes=1)).timestamp())]  # old one gone
    assert len(burst_bucket(alice.user_id)) <= 32


@pytest.mark.redis
async def test_redis_burst_limiter_is_exact_across_workers(open_ctx: OpenContext) -> None:
    require_service(redis_reachable())
    import redis.asyncio as redis

    clock = FakeClock(MID_JANUARY)
    workers = [await open_ctx(clock, free_monthly_limit=10**6, burst_per_minute=40) for _ in "ab"]
    for worker in workers:
        worker.redis = redis.from_url(REDIS_URL)
    principal = await _principal(workers[0])
    outcomes: list[bool] = []

    async def one(worker: CloudContext) -> None:
        outcomes.append((await charge(worker, principal, "e")).allowed)

    async with anyio.create_task_group() as group:
        for n in range(120):
            group.start_soon(one, workers[n % 2])
    assert outcomes.count(True) == 40
    assert await _counters(workers[0], principal.user_id) == {"2026-01": 40}
    async with workers[0].db.sessions() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(UpstreamWindow)
            .where(UpstreamWindow.provider == burst_bucket(principal.user_id))
        )
    assert rows == 0  # Redis did the counting
    clock.advance(60)
    assert (await charge(workers[1], principal, "e")).allowed


class _DownRedis:
    """Redis as an outage shows it: every script call fails (counted)."""

    def __init__(self) -> None:
        self.calls = 0

    def register_script(self, _source: str) -> Callable[..., Awaitable[int]]:
        async def call(**_kwargs: Any) -> int:
            self.calls += 1
            raise ConnectionError("Redis is down")

        return call


async def test_a_failing_redis_hands_over_to_the_database_limiter(open_ctx: OpenContext) -> None:
    clock = FakeClock(MID_JANUARY)
    ctx = await open_ctx(clock, burst_per_minute=3)
    down = _DownRedis()
    ctx.redis = down
    principal = await _principal(ctx)
    outcomes = [(await charge(ctx, principal, "e")).allowed for _ in range(4)]
    assert outcomes == [True, True, True, False]  # limited all the same: never fail open
    assert down.calls == 1  # then left alone for a while, not retried on every request
    clock.advance(REDIS_RETRY_AFTER_S)
    assert not (await charge(ctx, principal, "e")).allowed
    assert down.calls == 2
    ctx.redis = None


# ---------------------------------------------------------------- refunds, audit, summary


async def test_refund_gives_back_the_month_and_the_day(open_ctx: OpenContext) -> None:
    clock = FakeClock(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    ctx = await open_ctx(clock, free_monthly_limit=5)
    principal = await _principal(ctx)
    january = await charge(ctx, principal, "rest:health")
    await charge(ctx, principal, "rest:health")
    clock.advance(2)
    await charge(ctx, principal, "rest:health")
    await refund(ctx, principal, "rest:health", at=january.at)  # goes to January, not February
    assert await _counters(ctx, principal.user_id) == {"2026-01": 1, "2026-02": 1}
    await refund(ctx, principal, "rest:health")
    await refund(ctx, principal, "rest:health")  # nothing left: never below zero
    assert await _counters(ctx, principal.user_id) == {"2026-01": 1, "2026-02": 0}
    assert await _daily_total(ctx, principal.user_id) == 1
    assert (await charge(ctx, principal, "e")).headers["X-RateLimit-Remaining"] == "4"


async def test_quota_exceeded_is_audited_at_most_once_an_hour(open_ctx: OpenContext) -> None:
    clock = FakeClock(MID_JANUARY)
    ctx = await open_ctx(clock, free_monthly_limit=1)
    other_worker = await open_ctx(clock, free_monthly_limit=1)
    principal = await _principal(ctx)
    assert (await charge(ctx, principal, "e", request_id="ok")).allowed
    for _ in range(3):
        assert not (await charge(ctx, principal, "e", request_id="r1")).allowed
    assert not (await charge(other_worker, principal, "e")).allowed  # sees the same row
    clock.advance(3601)
    assert not (await charge(other_worker, principal, "e", request_id="r2")).allowed
    events = [e for e in await list_events(ctx, principal.user_id) if e.event == "quota.exceeded"]
    assert [(e.request_id, e.detail) for e in events] == [
        ("r2", {"period": "2026-01", "limit": 1}),
        ("r1", {"period": "2026-01", "limit": 1}),
    ]


async def test_usage_summary_per_day_and_endpoint(open_ctx: OpenContext) -> None:
    clock = FakeClock(datetime(2026, 1, 18, 9, tzinfo=UTC))
    ctx = await open_ctx(clock, free_monthly_limit=20, burst_per_minute=1000)
    principal = await _principal(ctx)
    for _ in range(3):
        await charge(ctx, principal, "rest:health")
    clock.advance(2 * 86400)
    await charge(ctx, principal, "mcp:get_sleep")
    await charge(ctx, principal, "mcp:get_sleep")
    await charge(ctx, principal, "rest:health")
    other = await _principal(ctx)
    await charge(ctx, other, "rest:health")

    summary = await usage_summary(ctx, principal.user_id, days=7)
    assert summary.plan == "FREE"
    assert summary.period == "2026-01"
    assert (summary.month_count, summary.limit, summary.remaining) == (6, 20, 14)
    assert summary.reset_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert summary.daily == [
        DayUsage(date(2026, 1, 14) + timedelta(days=n), c)
        for n, c in enumerate([0, 0, 0, 0, 3, 0, 3])
    ]
    assert summary.endpoints == [EndpointUsage("rest:health", 4), EndpointUsage("mcp:get_sleep", 2)]
    assert len((await usage_summary(ctx, principal.user_id)).daily) == 30

    pro = await _principal(ctx, plan="PRO")
    pro_summary = await usage_summary(ctx, pro.user_id)
    assert (pro_summary.limit, pro_summary.remaining, pro_summary.month_count) == (None, None, 0)


# ---------------------------------------------------------------- exactness under concurrency


async def test_concurrent_charges_in_one_process_are_exact(open_ctx: OpenContext) -> None:
    ctx = await open_ctx(FakeClock(MID_JANUARY), free_monthly_limit=60, burst_per_minute=10**6)
    free, pro = await _principal(ctx), await _principal(ctx, plan="PRO")
    outcomes: dict[str, list[bool]] = {"FREE": [], "PRO": []}

    async def one(principal: Principal) -> None:
        outcomes[principal.plan].append((await charge(ctx, principal, "e")).allowed)

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one, free)
            group.start_soon(one, pro)
    assert outcomes["FREE"].count(True) == 60
    assert outcomes["PRO"].count(True) == 100
    assert await _counters(ctx, free.user_id) == {"2026-01": 60}
    assert await _counters(ctx, pro.user_id) == {"2026-01": 100}
    assert await _daily_total(ctx, free.user_id) == 60
    assert await _daily_total(ctx, pro.user_id) == 100


async def _two_workers(
    url: str, user_id: str, per_worker: int, limit: int, key: str | None = None
) -> list[dict[str, int]]:
    """Two OS processes, each firing ``per_worker`` concurrent charges through its own engine.

    With ``key``, each charge is an `admit` of that key (the data requests' steady state).
    """
    command = [sys.executable, "-m", "tests.cloud.limits_worker", url, user_id]
    command += [str(per_worker), str(limit), MID_JANUARY.isoformat(), *([key] if key else [])]
    workers = [
        await anyio.open_process(command, cwd=REPO, stdin=-1, stdout=-1, stderr=-1)
        for _ in range(2)
    ]
    try:
        for worker in workers:  # both warmed up and waiting: then release them together
            assert worker.stdout is not None
            lines = BufferedByteReceiveStream(worker.stdout)
            with anyio.fail_after(30):
                assert await lines.receive_until(b"\n", 100) == b"ready"
        for worker in workers:
            assert worker.stdin is not None
            await worker.stdin.send(b"go\n")
        results = []
        with anyio.fail_after(90):
            for worker in workers:
                assert worker.stdout is not None
                assert worker.stderr is not None
                output = b"".join([chunk async for chunk in worker.stdout])
                errors = b"".join([chunk async for chunk in worker.stderr])
                assert await worker.wait() == 0, errors.decode()
                results.append(json.loads(output))
        return results
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


@pytest.mark.postgres
@pytest.mark.parametrize("row_exists", [False, True], ids=["no-counter-row", "counter-row"])
@pytest.mark.parametrize("path", ["charge", "admit"])
async def test_1500_concurrent_charges_from_two_processes_allow_exactly_1000_on_postgres(
    postgres_server: str, row_exists: bool, path: str
) -> None:
    name, url = fresh_postgres_database(postgres_server)
    try:
        settings = CloudSettings(database_url=url, api_key_pepper=SecretStr("p"))
        ctx = await open_context(settings, FakeClock(MID_JANUARY))
        principal = await _principal(ctx)
        key = None
        if path == "admit":
            key = (await keys.create_key(ctx, user_id=principal.user_id, name="w")).full_key
        if row_exists:
            async with ctx.db.transaction() as session:
                session.add(UsageCounter(user_id=principal.user_id, period="2026-01", count=0))
        results = await _two_workers(url, principal.user_id, per_worker=750, limit=1000, key=key)
        assert sum(r["allowed"] for r in results) == 1000
        assert sum(r["refused"] for r in results) == 500
        assert all(r["allowed"] > 0 for r in results)  # both processes won some
        assert await _counters(ctx, principal.user_id) == {"2026-01": 1000}
        assert await _daily_total(ctx, principal.user_id) == 1000
        await ctx.db.dispose()
    finally:
        drop_postgres_database(postgres_server, name)


@pytest.mark.parametrize("path", ["charge", "admit"])
async def test_concurrent_charges_from_two_processes_are_exact_on_sqlite(
    tmp_path: Path, path: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    settings = CloudSettings(database_url=url, api_key_pepper=SecretStr("p"))
    ctx = await open_context(settings, FakeClock(MID_JANUARY))
    try:
        principal = await _principal(ctx)
        key = None
        if path == "admit":
            key = (await keys.create_key(ctx, user_id=principal.user_id, name="w")).full_key
        results = await _two_workers(url, principal.user_id, per_worker=150, limit=200, key=key)
        assert sum(r["allowed"] for r in results) == 200
        assert sum(r["refused"] for r in results) == 100
        assert await _counters(ctx, principal.user_id) == {"2026-01": 200}
        assert await _daily_total(ctx, principal.user_id) == 200
    finally:
        await ctx.db.dispose()


def test_endpoint_names_fit_the_usage_table() -> None:
    assert UsageDaily.__table__.c.endpoint.type.length == 64  # type: ignore[attr-defined]
    assert re.fullmatch(r"burst:[0-9a-f]{26}", burst_bucket("u" * 32))
