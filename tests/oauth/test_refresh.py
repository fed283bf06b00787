"""Refresh-token rotation: single flight, persist before use, only invalid_grant is fatal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.lowlevel
import httpx2
import pytest

from tests.conftest import CREDENTIALS, connect, tokens_for
from tests.fakes import FakeClock, FlakyNetwork
from wellpipe.core import (
    MemoryTokenProvider,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    ReauthorizationRequired,
)
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.whoop import History

TOKEN_PATH = "/oauth/oauth2/token"
PROFILE = "/developer/v2/user/profile/basic"


def expire_locally(tokens: MemoryTokenProvider, clock: FakeClock) -> None:
    """Make the stored access token look expired to the client (WHOOP may still accept it)."""
    tokens._expires_at = clock.now() - timedelta(seconds=1)


async def snapshot(tokens: MemoryTokenProvider) -> tuple[str | None, str | None]:
    return await tokens.get_access_token(), await tokens.get_refresh_token()


@pytest.fixture
def network(sandbox: WhoopSandbox) -> FlakyNetwork:
    return FlakyNetwork(sandbox.transport())


@pytest.fixture
async def connected(
    sandbox: WhoopSandbox, network: FlakyNetwork, clock: FakeClock, tokens: MemoryTokenProvider
) -> AsyncIterator[WhoopProvider]:
    async with connect(sandbox, clock, tokens=tokens, transport=network) as whoop:
        yield whoop


async def test_a_hundred_concurrent_calls_on_an_expired_token_refresh_exactly_once(
    connected: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    expire_locally(tokens, clock)
    results: list[str] = []

    async def call() -> None:
        results.append((await connected.profile()).display_name)

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(call)
    assert results == ["Alex Rivera"] * 100
    assert sandbox.auth.token_requests == 1
    assert [r.status for r in sandbox.requests if r.path == PROFILE] == [200] * 100


async def test_a_token_close_to_expiry_is_refreshed_before_use(
    connected: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    tokens._expires_at = clock.now() + timedelta(seconds=60)  # inside the 120 s margin
    await connected.profile()
    assert sandbox.auth.refreshes == 1
    assert [r.status for r in sandbox.requests if r.path == PROFILE] == [200]


async def test_a_401_refreshes_once_and_resends(
    connected: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider
) -> None:
    old = await snapshot(tokens)
    sandbox.auth.expire_access_tokens()  # WHOOP says expired; the client still thinks not
    await connected.profile()
    assert [r.status for r in sandbox.requests if r.path == PROFILE] == [401, 200]
    assert sandbox.auth.refreshes == 1
    new = await snapshot(tokens)
    assert new[0] != old[0]
    assert new[1] != old[1]


async def test_the_new_pair_is_persisted_before_it_is_used(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    events: list[str] = []

    class Recording(MemoryTokenProvider):
        async def update_tokens(
            self, access_token: str, refresh_token: str | None = None, expires_at: Any = None
        ) -> None:
            await super().update_tokens(access_token, refresh_token, expires_at)
            events.append(f"stored {access_token[:8]}")

    issued = tokens_for(sandbox, clock)
    tokens = Recording(await issued_set(issued), clock=clock)
    inner = sandbox.transport()

    async def spy(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == PROFILE:
            events.append(f"used {request.headers['authorization'][7:15]}")
        return await inner.handle_async_request(request)

    sandbox.auth.expire_access_tokens()
    async with connect(sandbox, clock, tokens=tokens, transport=httpx2.MockTransport(spy)) as whoop:
        await whoop.profile()
    new = (await tokens.get_access_token() or "")[:8]
    assert events[-2:] == [f"stored {new}", f"used {new}"]


async def issued_set(tokens: MemoryTokenProvider) -> Any:
    from wellpipe.core import TokenSet

    return TokenSet(
        access_token=await tokens.get_access_token() or "",
        refresh_token=await tokens.get_refresh_token(),
        expires_at=tokens._expires_at,
    )


async def test_a_second_401_is_not_refreshed_again(sandbox: WhoopSandbox, clock: FakeClock) -> None:
    issued = sandbox.issue_tokens(
        client_id=CREDENTIALS.client_id, scopes=frozenset({"read:sleep", "offline"})
    )
    from wellpipe.core import TokenSet

    tokens = MemoryTokenProvider(
        TokenSet(issued["access_token"], issued["refresh_token"], clock.now() + timedelta(hours=1)),
        clock=clock,
    )
    async with connect(sandbox, clock, tokens=tokens) as whoop:
        with pytest.raises(ReauthorizationRequired) as caught:
            await whoop.profile()  # read:profile was never granted
    assert "wellpipe auth whoop" in str(caught.value)
    assert [r.status for r in sandbox.requests if r.path == PROFILE] == [401, 401]
    assert sandbox.auth.refreshes == 1
    assert tokens.reauthorization_reason is None  # not a dead grant: keep the tokens


async def test_invalid_grant_marks_the_grant_dead_and_stops_refreshing(
    connected: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    _, refresh = await snapshot(tokens)
    assert refresh is not None
    # The member revoked access in the WHOOP app: the refresh token is dead.
    sandbox.auth.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": CREDENTIALS.client_id,
            "client_secret": "x",
        },
        None,
    )
    expire_locally(tokens, clock)
    with pytest.raises(ReauthorizationRequired) as caught:
        await connected.profile()
    assert caught.value.provider == "whoop"
    assert tokens.reauthorization_reason is not None
    requests_so_far = sandbox.auth.token_requests
    with pytest.raises(ReauthorizationRequired) as again:
        await connected.profile()
    assert sandbox.auth.token_requests == requests_so_far  # no retry storm on a dead grant
    # The next call says why the grant is dead, as recorded, not that no token is stored.
    assert tokens.reauthorization_reason in str(again.value)
    assert "no refresh token is stored" not in str(again.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(path_prefix=TOKEN_PATH, status=500, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=503, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=429, times=10), ProviderRateLimited),
        (Fault(path_prefix=TOKEN_PATH, body="truncated"), ProviderResponseError),
    ],
)
async def test_a_failed_refresh_keeps_every_token(
    connected: WhoopProvider,
    sandbox: WhoopSandbox,
    tokens: MemoryTokenProvider,
    clock: FakeClock,
    fault: Fault,
    error: type[Exception],
) -> None:
    before = await snapshot(tokens)
    expire_locally(tokens, clock)
    sandbox.inject(fault)
    with pytest.raises(error):
        await connected.profile()
    assert await snapshot(tokens) == before
    assert tokens.reauthorization_reason is None


async def test_a_refresh_timeout_keeps_every_token(
    connected: WhoopProvider, network: FlakyNetwork, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    before = await snapshot(tokens)
    expire_locally(tokens, clock)
    network.fail(TOKEN_PATH, httpx2.ConnectTimeout, times=10)
    with pytest.raises(ProviderUnavailable):
        await connected.profile()
    assert await snapshot(tokens) == before
    assert tokens.reauthorization_reason is None


async def test_a_response_without_a_refresh_token_keeps_the_old_one(
    connected: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider, clock: FakeClock
) -> None:
    old_access, old_refresh = await snapshot(tokens)

    def drop_refresh_token(body: Any) -> Any:
        body.pop("refresh_token")
        return body

    sandbox.inject(Fault(path_prefix=TOKEN_PATH, mutate=drop_refresh_token))
    expire_locally(tokens, clock)
    await connected.profile()
    new_access, new_refresh = await snapshot(tokens)
    assert new_access != old_access
    assert new_refresh == old_refresh


async def test_a_cancelled_caller_cannot_lose_a_freshly_rotated_grant(
    connected: WhoopProvider,
    network: FlakyNetwork,
    sandbox: WhoopSandbox,
    tokens: MemoryTokenProvider,
    clock: FakeClock,
) -> None:
    expire_locally(tokens, clock)
    issued: dict[str, str] = {}

    with anyio.CancelScope() as caller:

        async def caller_gives_up_after_whoop_rotated(response: httpx2.Response) -> None:
            issued.update(response.json())
            caller.cancel()
            await anyio.lowlevel.checkpoint()  # the response is still on its way to us

        network.after(TOKEN_PATH, caller_gives_up_after_whoop_rotated)
        await connected.profile()
        await anyio.lowlevel.checkpoint()
    assert caller.cancelled_caught
    assert await snapshot(tokens) == (issued["access_token"], issued["refresh_token"])
    await connected.profile()  # the next call uses the persisted pair
    assert sandbox.auth.refreshes == 1


async def test_a_sibling_that_rotated_first_is_followed_not_fought(
    clock: FakeClock, history: History
) -> None:
    # Single-use refresh tokens without family revocation (like Oura and Fitbit).
    sandbox = WhoopSandbox(clock=clock, history=history, revoke_family_on_reuse=False)
    tokens = tokens_for(sandbox, clock)
    network = FlakyNetwork(sandbox.transport())

    async def sibling_refreshes_first(request: httpx2.Request) -> None:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        outcome = sandbox.auth.token(form, None)  # another process, holding no lock of ours
        body = outcome.body
        await tokens.update_tokens(
            body["access_token"], body["refresh_token"], clock.now() + timedelta(hours=1)
        )

    network.before(TOKEN_PATH, sibling_refreshes_first)
    expire_locally(tokens, clock)
    async with connect(sandbox, clock, tokens=tokens, transport=network) as whoop:
        assert (await whoop.profile()).first_name == "Alex"
    assert tokens.reauthorization_reason is None
