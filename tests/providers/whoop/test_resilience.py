"""What users see when WHOOP misbehaves: retries, rate limits, outages. Tokens always survive."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx2
import pytest

from tests.conftest import NOW, connect
from tests.fakes import FakeClock, FlakyNetwork
from wellpipe.core import (
    DataKind,
    MemoryTokenProvider,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimit,
    TimeWindow,
)
from wellpipe.net import RetryPolicy
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.whoop import History

PROFILE = "/developer/v2/user/profile/basic"


def hits(sandbox: WhoopSandbox, path: str) -> list[int]:
    return [r.status for r in sandbox.requests if r.path == path]


async def test_a_passing_5xx_is_retried(whoop: WhoopProvider, sandbox: WhoopSandbox) -> None:
    sandbox.inject(Fault(path_prefix=PROFILE, status=503, times=2))
    profile = await whoop.profile()
    assert profile.first_name == "Alex"
    assert hits(sandbox, PROFILE) == [503, 503, 200]


async def test_a_lasting_outage_gives_up_after_the_policy_and_keeps_the_tokens(
    whoop: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider
) -> None:
    before = (await tokens.get_access_token(), await tokens.get_refresh_token())
    sandbox.inject(Fault(path_prefix=PROFILE, status=500, times=100))
    with pytest.raises(ProviderUnavailable) as caught:
        await whoop.profile()
    assert hits(sandbox, PROFILE) == [500] * RetryPolicy().attempts
    assert caught.value.detail == "HTTP 500"
    assert "try again in a few minutes" in str(caught.value)
    assert (await tokens.get_access_token(), await tokens.get_refresh_token()) == before


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}, 7.0),
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "nonsense", "X-RateLimit-Reset": "4"}, 4.0),
    ],
)
async def test_a_429_pauses_the_app_for_as_long_as_whoop_asks(
    whoop: WhoopProvider,
    sandbox: WhoopSandbox,
    clock: FakeClock,
    headers: dict[str, str],
    wait: float,
) -> None:
    sandbox.inject(Fault(path_prefix=PROFILE, status=429, headers=headers))
    before = clock.monotonic()
    await whoop.profile()
    assert hits(sandbox, PROFILE) == [429, 200]
    assert clock.monotonic() - before == pytest.approx(wait)


async def test_retry_after_may_be_an_http_date(
    whoop: WhoopProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    when = email.utils.format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    sandbox.inject(Fault(path_prefix=PROFILE, status=429, headers={"Retry-After": when}))
    before = clock.monotonic()
    await whoop.profile()
    assert 19 <= clock.monotonic() - before <= 20


async def test_a_long_rate_limit_is_reported_instead_of_waited_out(
    whoop: WhoopProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    sandbox.inject(Fault(path_prefix=PROFILE, status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(ProviderRateLimited) as caught:
        await whoop.profile()
    assert caught.value.retry_after == 3600
    assert "try again in 60 minutes" in str(caught.value)
    assert hits(sandbox, PROFILE) == [429]
    assert clock.slept == []


@pytest.fixture
async def strict_whoop(
    clock: FakeClock, history: History
) -> AsyncIterator[tuple[WhoopProvider, WhoopSandbox]]:
    """A sandbox allowing only 5 requests a minute, and a client that does not know it."""
    sandbox = WhoopSandbox(clock=clock, history=history, rate_limits=(RateLimit(5, 60),))
    async with connect(sandbox, clock) as whoop:
        yield whoop, sandbox


async def test_whoops_own_rate_limit_is_honoured_and_the_read_completes(
    strict_whoop: tuple[WhoopProvider, WhoopSandbox], clock: FakeClock
) -> None:
    whoop, sandbox = strict_whoop
    window = TimeWindow(start=NOW - timedelta(days=200), end=NOW)
    records = await whoop.read({DataKind.CYCLE}, window)
    statuses = hits(sandbox, "/developer/v2/cycle")
    assert len(records.cycles) >= 200
    assert statuses.count(200) == 9  # ceil(201 cycles / 25)
    assert clock.monotonic() >= 60  # it waited for the next window instead of failing


async def test_connection_failures_before_sending_are_retried(
    sandbox: WhoopSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> None:
    network = FlakyNetwork(sandbox.transport())
    network.fail(PROFILE, httpx2.ConnectError, times=2)
    async with connect(sandbox, clock, tokens=tokens, transport=network) as whoop:
        assert (await whoop.profile()).first_name == "Alex"
    assert network.attempts.count(PROFILE) == 3


async def test_a_read_timeout_on_a_get_is_retried(
    sandbox: WhoopSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> None:
    network = FlakyNetwork(sandbox.transport())
    network.fail(PROFILE, httpx2.ReadTimeout, after_delivery=True)
    async with connect(sandbox, clock, tokens=tokens, transport=network) as whoop:
        assert (await whoop.profile()).first_name == "Alex"
    assert network.attempts.count(PROFILE) == 2


async def test_an_oversized_response_is_refused(
    sandbox: WhoopSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> None:
    async with connect(
        sandbox, clock, tokens=tokens, retry=RetryPolicy(max_body_bytes=2_000)
    ) as whoop:
        with pytest.raises(ProviderResponseError) as caught:
            await whoop.read(
                {DataKind.WORKOUT}, TimeWindow(start=NOW - timedelta(days=30), end=NOW)
            )
    assert "larger than" in caught.value.problem


async def test_a_latency_fault_is_waited_through_on_the_sandbox_clock(
    whoop: WhoopProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    sandbox.inject(Fault(path_prefix=PROFILE, latency_s=2.5))
    await whoop.profile()
    assert clock.slept == [2.5]
