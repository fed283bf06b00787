"""Oura misbehaving and tokens rotating: 429s, outages, single-use refresh tokens, races."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx2
import pytest

from tests.conftest import CREDENTIALS, NOW
from tests.fakes import FakeClock, FlakyNetwork
from tests.providers.oura.conftest import ORIGIN, connect_oura, oura_tokens
from wellpipe.core import (
    DataKind,
    MemoryTokenProvider,
    ProviderRateLimited,
    ProviderUnavailable,
    RateLimit,
    ReauthorizationRequired,
    TimeWindow,
)
from wellpipe.net import RetryPolicy, build_http_client
from wellpipe.oauth import InvalidGrant
from wellpipe.providers.oura import OuraProvider, OuraSettings, oura_oauth_client
from wellpipe.sandbox.faults import Fault
from wellpipe.sandbox.oura import History, OuraSandbox

PERSONAL = "/v2/usercollection/personal_info"
TOKEN = "/oauth/token"


def hits(sandbox: OuraSandbox, path: str) -> list[int]:
    return [r.status for r in sandbox.requests if r.path == path]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "12", "X-RateLimit-Tier": "token"}, 12.0),
        ({"Retry-After": "1", "X-RateLimit-Tier": "application"}, 1.0),
    ],
)
async def test_a_429_waits_as_long_as_oura_asks_then_succeeds(
    oura: OuraProvider,
    oura_sandbox: OuraSandbox,
    clock: FakeClock,
    headers: dict[str, str],
    wait: float,
) -> None:
    oura_sandbox.inject(Fault(path_prefix=PERSONAL, status=429, headers=headers))
    before = clock.monotonic()
    await oura.profile()
    assert hits(oura_sandbox, PERSONAL) == [429, 200]
    assert clock.monotonic() - before == pytest.approx(wait)


async def test_a_long_rate_limit_is_reported_instead_of_waited_out(
    oura: OuraProvider, oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    oura_sandbox.inject(Fault(path_prefix=PERSONAL, status=429, headers={"Retry-After": "280"}))
    with pytest.raises(ProviderRateLimited) as caught:
        await oura.profile()
    assert caught.value.retry_after == 280
    assert "Oura rate limit reached" in str(caught.value)
    assert clock.slept == []


async def test_ouras_own_per_token_limit_is_honoured_and_the_read_completes(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(
        clock=clock, history=oura_history, rate_limit=RateLimit(3, 30), page_size=10
    )
    async with connect_oura(sandbox, clock) as oura:
        window = TimeWindow(start=NOW - timedelta(days=60), end=NOW)
        records = await oura.read({DataKind.ACTIVITY}, window)
    statuses = hits(sandbox, "/v2/usercollection/daily_activity")
    assert len(records.activities) >= 55
    assert statuses.count(200) == 7
    assert 429 in statuses
    assert clock.monotonic() >= 30


async def test_a_lasting_outage_gives_up_and_keeps_the_tokens(
    oura: OuraProvider, oura_sandbox: OuraSandbox, tokens: MemoryTokenProvider
) -> None:
    before = (await tokens.get_access_token(), await tokens.get_refresh_token())
    oura_sandbox.inject(Fault(path_prefix=PERSONAL, status=503, times=100))
    with pytest.raises(ProviderUnavailable):
        await oura.profile()
    assert hits(oura_sandbox, PERSONAL) == [503] * RetryPolicy().attempts
    assert (await tokens.get_access_token(), await tokens.get_refresh_token()) == before


async def test_an_expired_token_is_refreshed_once_and_the_new_pair_is_stored(
    oura: OuraProvider, oura_sandbox: OuraSandbox, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    old_refresh = await tokens.get_refresh_token()
    clock.advance(86_400)  # the access token's day is over
    await oura.profile()
    assert hits(oura_sandbox, TOKEN) == [200]
    assert await tokens.get_refresh_token() not in (None, old_refresh)
    assert not await tokens.is_expired()


async def test_a_refresh_token_works_once_and_its_second_use_is_invalid_grant(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    issued = oura_sandbox.issue_token_set(client_id=CREDENTIALS.client_id)
    assert issued.refresh_token is not None
    async with build_http_client(base_url=ORIGIN, transport=oura_sandbox.transport()) as http:
        oauth = oura_oauth_client(
            settings=OuraSettings.for_origin(ORIGIN),
            credentials=CREDENTIALS,
            http=http,
            clock=clock,
        )
        fresh = await oauth.refresh(issued.refresh_token)
        assert fresh.refresh_token not in (None, issued.refresh_token)
        with pytest.raises(InvalidGrant, match="can only be used once"):
            await oauth.refresh(issued.refresh_token)
    token_requests = [r for r in oura_sandbox.requests if r.path == TOKEN]
    assert [r.status for r in token_requests] == [200, 400]


async def test_concurrent_reads_with_an_expired_token_refresh_once_and_keep_the_grant(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock)
    network = FlakyNetwork(oura_sandbox.transport())  # yields between requests, like a network
    async with connect_oura(oura_sandbox, clock, tokens=tokens, transport=network) as oura:
        clock.advance(86_400)
        kinds = {DataKind.SLEEP, DataKind.READINESS, DataKind.ACTIVITY, DataKind.VITALS}
        window = TimeWindow(start=NOW - timedelta(days=3), end=NOW)
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(oura.read, kinds, window)
                group.start_soon(oura.profile)
        assert hits(oura_sandbox, TOKEN) == [200]
        clock.advance(86_400)  # and the rotated grant refreshes again later
        await oura.profile()
    assert hits(oura_sandbox, TOKEN) == [200, 200]
    assert tokens.reauthorization_reason is None


async def test_a_refresh_token_spent_elsewhere_ends_in_reauthorization(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock)
    stolen = await tokens.get_refresh_token()
    assert stolen is not None
    oura_sandbox.auth.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": stolen,
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
        },
        None,
    )  # another copy of the app used it first
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        clock.advance(86_400)
        with pytest.raises(ReauthorizationRequired, match="wellpipe auth oura"):
            await oura.profile()
    assert tokens.reauthorization_reason is not None


async def test_data_requests_carry_the_bearer_token_and_revoke_sends_none(
    oura_sandbox: OuraSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> None:
    seen: list[str] = []
    inner = oura_sandbox.transport()

    async def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization", ""))
        return await inner.handle_async_request(request)

    async with connect_oura(
        oura_sandbox, clock, tokens=tokens, transport=httpx2.MockTransport(spy)
    ) as oura:
        await oura.profile()
        await oura.revoke()
    assert seen == [f"Bearer {await tokens.get_access_token()}", ""]
