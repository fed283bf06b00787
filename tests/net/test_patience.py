"""A read answering with other providers waits on a rate limit only as long as its patience.

`wellpipe.core.patience`: the reader gives each of several providers 2 s; the HTTP layer
gives up on a provider (`ProviderRateLimited`) rather than wait longer, whether the wait
is its own retry after a 429 or a pause the app's throttle is holding.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from tests.fakes import FakeClock
from wellpipe.core import ProviderRateLimited, RateLimit
from wellpipe.core.patience import current_patience, patience
from wellpipe.net import RetryPolicy, Throttle, send

START = datetime(2026, 11, 21, tzinfo=UTC)


def replies(*answers: httpx2.Response) -> tuple[httpx2.MockTransport, list[httpx2.Request]]:
    """A transport answering with ``answers`` in turn (the last one for ever)."""
    sent: list[httpx2.Request] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return answers[min(len(sent), len(answers)) - 1]

    return httpx2.MockTransport(handle), sent


async def ask(transport: httpx2.MockTransport, clock: FakeClock, throttle: Throttle | None) -> int:
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as http:
        reply = await send(
            http,
            lambda: http.build_request("GET", "/data"),
            provider="fitbit",
            endpoint="GET /data",
            clock=clock,
            policy=RetryPolicy(),
            throttle=throttle,
        )
    return reply.status_code


@pytest.mark.parametrize("throttled", [True, False], ids=["throttled", "bare"])
async def test_a_429_without_retry_after_gives_up_at_once_within_a_patience(
    throttled: bool,
) -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(300, 60),), clock=clock, provider="fitbit")
    transport, sent = replies(httpx2.Response(429), httpx2.Response(200))
    with patience(2.0), pytest.raises(ProviderRateLimited) as limited:
        await ask(transport, clock, throttle if throttled else None)
    assert len(sent) == 1  # not tried again
    assert clock.slept == []
    assert limited.value.retry_after > 2.0  # what the provider costs, for the note


async def test_a_429_without_retry_after_is_still_retried_by_a_read_of_one_provider() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(300, 60),), clock=clock, provider="fitbit")
    transport, sent = replies(httpx2.Response(429), httpx2.Response(200))
    assert current_patience() is None
    assert await ask(transport, clock, throttle) == 200
    assert len(sent) == 2


async def test_a_wait_that_fits_the_patience_is_waited_and_spent() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(300, 60),), clock=clock, provider="fitbit")
    limited = httpx2.Response(429, headers={"Retry-After": "1.5"})
    transport, sent = replies(limited, httpx2.Response(200))
    with patience(2.0) as left:
        assert await ask(transport, clock, throttle) == 200
    assert len(sent) == 2
    assert sum(clock.slept) == 1.5
    assert left.left == 0.5
    # A second pause as long finds too little patience left: no second wait.
    transport, sent = replies(limited, httpx2.Response(200))
    with patience(0.5), pytest.raises(ProviderRateLimited):
        await ask(transport, clock, throttle)
    assert sum(clock.slept) == 1.5


async def test_a_pause_longer_than_the_patience_left_is_not_waited_through() -> None:
    clock = FakeClock(START)
    throttle = Throttle((RateLimit(300, 60),), clock=clock, provider="fitbit")
    throttle.pause(8)  # an earlier 429 without Retry-After
    with patience(2.0), pytest.raises(ProviderRateLimited) as limited:
        await throttle.acquire("GET /data")
    assert clock.slept == []
    assert limited.value.retry_after == 8
    await throttle.acquire("GET /data")  # one provider alone waits it out, as before
    assert clock.slept == [8]
