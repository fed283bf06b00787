from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import FakeClock
from wellpipe.core import ProviderRateLimited, RateLimit
from wellpipe.net import Throttle
from wellpipe.net.throttle import parse_seconds, reset_seconds

START = datetime(2026, 11, 21, tzinfo=UTC)


def _max_in_any_window(times: list[float], seconds: float) -> int:
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u < t + seconds))
    return best


@given(gaps=st.lists(st.floats(min_value=0, max_value=4, allow_nan=False), min_size=1, max_size=80))
async def test_requests_never_exceed_any_window(gaps: list[float]) -> None:
    clock = FakeClock(START)
    limits = (RateLimit(5, 10), RateLimit(12, 60))
    throttle = Throttle(limits, clock=clock, provider="whoop", max_wait_s=3600)
    sent: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        await throttle.acquire()
        sent.append(clock.monotonic())
    assert _max_in_any_window(sent, 10) <= 5
    assert _max_in_any_window(sent, 60) <= 12
    assert throttle.state.sent == len(gaps)


async def test_concurrent_callers_share_one_budget() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop", max_wait_s=3600)
    sent: list[float] = []

    async def one() -> None:
        await throttle.acquire()
        sent.append(clock.monotonic())

    async with anyio.create_task_group() as group:
        for _ in range(250):
            group.start_soon(one)
    assert len(sent) == 250
    assert _max_in_any_window(sorted(sent), 60) <= 100
    assert max(sent) >= 120  # the third hundred had to wait two windows


async def test_a_pause_holds_every_request_until_it_ends() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop")
    throttle.pause(7)
    await throttle.acquire()
    assert clock.monotonic() == pytest.approx(7)


async def test_the_providers_zero_remaining_pauses_until_its_reset() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop")
    throttle.observe(
        {
            "x-ratelimit-limit": "100, 100;window=60, 10000;window=86400",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "9",
        }
    )
    assert throttle.state.server_remaining == 0
    assert throttle.state.paused_for_s == pytest.approx(9)
    await throttle.acquire()
    assert clock.monotonic() == pytest.approx(9)


async def test_a_reset_given_as_a_unix_time_pauses_until_then() -> None:
    # Oura's X-RateLimit-Reset is an epoch second, WHOOP's a count of seconds.
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(5_000, 300),), clock=clock, provider="oura")
    reset_at = int(START.timestamp()) + 42
    throttle.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset_at)})
    assert throttle.state.server_reset_s == pytest.approx(42)
    assert throttle.state.paused_for_s == pytest.approx(42)
    assert reset_seconds("17", clock) == 17
    assert reset_seconds(str(reset_at - 100), clock) == 0  # already past: no wait
    assert reset_seconds("soon", clock) is None


async def test_remaining_budget_does_not_pause() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop")
    throttle.observe({"x-ratelimit-remaining": "42", "x-ratelimit-reset": "30"})
    await throttle.acquire()
    assert clock.monotonic() == 0


async def test_a_wait_longer_than_the_cap_is_reported_not_slept() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop", max_wait_s=30)
    throttle.pause(3600)
    with pytest.raises(ProviderRateLimited) as caught:
        await throttle.acquire("GET /developer/v2/cycle")
    assert caught.value.retry_after == pytest.approx(3600)
    assert caught.value.endpoint == "GET /developer/v2/cycle"
    assert clock.slept == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-1", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        (None, None),
    ],
)
def test_seconds_headers_are_parsed_defensively(value: str | None, expected: float | None) -> None:
    assert parse_seconds(value) == expected


def test_garbage_rate_limit_headers_change_nothing() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(100, 60),), clock=clock, provider="whoop")
    throttle.observe({"x-ratelimit-remaining": "lots", "x-ratelimit-reset": "later"})
    assert throttle.state.paused_for_s == 0
