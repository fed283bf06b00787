from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.conftest import CREDENTIALS, ORIGIN
from tests.fakes import FakeClock, FlakyNetwork
from wellpipe.core import (
    ConfigError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
)
from wellpipe.net import build_http_client
from wellpipe.oauth import InvalidGrant, OAuthClient
from wellpipe.providers.whoop import SCOPES, WhoopSettings, whoop_oauth_client
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.whoop import History

TOKEN_PATH = "/oauth/oauth2/token"


@pytest.fixture
def network(sandbox: WhoopSandbox) -> FlakyNetwork:
    return FlakyNetwork(sandbox.transport())


@pytest.fixture
async def oauth(
    network: FlakyNetwork, clock: FakeClock, whoop_settings: WhoopSettings
) -> AsyncIterator[OAuthClient]:
    async with build_http_client(base_url=ORIGIN, transport=network) as http:
        yield whoop_oauth_client(
            settings=whoop_settings, credentials=CREDENTIALS, http=http, clock=clock
        )


async def authorize(oauth: OAuthClient, network: FlakyNetwork) -> str:
    """What the user's browser does: open the consent page and come back with a code."""
    state = oauth.new_state()
    async with httpx2.AsyncClient(transport=network) as browser:
        consent = await browser.get(oauth.authorization_url(state))
    answer = parse_qs(urlsplit(consent.headers["location"]).query)
    assert answer["state"] == [state]
    return answer["code"][0]


async def test_the_authorize_url_asks_for_every_read_scope_plus_offline(oauth: OAuthClient) -> None:
    url = urlsplit(oauth.authorization_url("abcdefgh12345"))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ORIGIN}/oauth/oauth2/auth"
    assert query == {
        "response_type": ["code"],
        "client_id": [CREDENTIALS.client_id],
        "redirect_uri": [CREDENTIALS.redirect_uri],
        "scope": [
            "read:recovery read:cycles read:workout read:sleep read:profile "
            "read:body_measurement offline"
        ],
        "state": ["abcdefgh12345"],
    }
    assert SCOPES[-1] == "offline"


def test_states_are_long_random_and_never_repeat() -> None:
    states = {OAuthClient.new_state() for _ in range(1000)}
    assert len(states) == 1000
    assert min(len(s) for s in states) >= 43


async def test_a_state_shorter_than_eight_characters_is_refused_up_front(
    oauth: OAuthClient,
) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        oauth.authorization_url("short")


async def test_the_code_flow_yields_tokens_with_their_scopes_and_expiry(
    oauth: OAuthClient, network: FlakyNetwork, clock: FakeClock
) -> None:
    tokens = await oauth.exchange_code(await authorize(oauth, network))
    assert tokens.refresh_token
    assert tokens.scopes == frozenset(SCOPES)
    assert tokens.expires_at == clock.now() + timedelta(seconds=3600)
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)


async def test_the_client_secret_travels_in_the_form_body(
    oauth: OAuthClient, network: FlakyNetwork
) -> None:
    await oauth.exchange_code(await authorize(oauth, network))
    [request] = [r for r in network.sent if r.url.path == TOKEN_PATH]
    form = parse_qs(request.content.decode())
    assert form["client_secret"] == [CREDENTIALS.client_secret]
    assert form["client_id"] == [CREDENTIALS.client_id]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [CREDENTIALS.redirect_uri]
    assert "authorization" not in request.headers


async def test_a_code_works_once(oauth: OAuthClient, network: FlakyNetwork) -> None:
    code = await authorize(oauth, network)
    await oauth.exchange_code(code)
    with pytest.raises(InvalidGrant):
        await oauth.exchange_code(code)


async def test_refresh_rotates_and_asks_for_offline(
    oauth: OAuthClient, network: FlakyNetwork
) -> None:
    first = await oauth.exchange_code(await authorize(oauth, network))
    assert first.refresh_token is not None
    second = await oauth.refresh(first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    refresh_form = parse_qs(network.sent[-1].content.decode())
    assert refresh_form["grant_type"] == ["refresh_token"]
    assert refresh_form["scope"] == ["offline"]
    with pytest.raises(InvalidGrant):
        await oauth.refresh(first.refresh_token)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(path_prefix=TOKEN_PATH, status=500, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=502, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=503, times=10), ProviderUnavailable),
        (
            Fault(path_prefix=TOKEN_PATH, status=429, times=10, headers={"Retry-After": "2"}),
            ProviderRateLimited,
        ),
        (Fault(path_prefix=TOKEN_PATH, status=400), ProviderResponseError),
        (Fault(path_prefix=TOKEN_PATH, body="not_json"), ProviderResponseError),
        (Fault(path_prefix=TOKEN_PATH, body="drop_required_field"), ProviderResponseError),
    ],
)
async def test_transient_and_unexpected_token_endpoint_failures_are_not_a_dead_grant(
    oauth: OAuthClient,
    network: FlakyNetwork,
    sandbox: WhoopSandbox,
    fault: Fault,
    error: type[Exception],
) -> None:
    first = await oauth.exchange_code(await authorize(oauth, network))
    assert first.refresh_token is not None
    sandbox.inject(fault)
    with pytest.raises(error):
        await oauth.refresh(first.refresh_token)


async def test_a_passing_token_endpoint_outage_is_retried(
    oauth: OAuthClient, network: FlakyNetwork, sandbox: WhoopSandbox
) -> None:
    first = await oauth.exchange_code(await authorize(oauth, network))
    assert first.refresh_token is not None
    sandbox.inject(Fault(path_prefix=TOKEN_PATH, status=503, times=2))
    assert (await oauth.refresh(first.refresh_token)).access_token


async def test_a_timeout_after_the_request_left_is_not_retried(
    oauth: OAuthClient, network: FlakyNetwork
) -> None:
    first = await oauth.exchange_code(await authorize(oauth, network))
    assert first.refresh_token is not None
    network.fail(TOKEN_PATH, httpx2.ReadTimeout, after_delivery=True)
    with pytest.raises(ProviderUnavailable):
        await oauth.refresh(first.refresh_token)
    assert network.attempts.count(TOKEN_PATH) == 2  # the exchange, then one refresh attempt


async def test_rejected_client_credentials_are_a_config_error(
    clock: FakeClock, history: History, whoop_settings: WhoopSettings
) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history, client_id="real-id", client_secret="real")
    async with build_http_client(base_url=ORIGIN, transport=sandbox.transport()) as http:
        oauth = whoop_oauth_client(
            settings=whoop_settings,
            credentials=CREDENTIALS.__class__("real-id", "wrong", CREDENTIALS.redirect_uri),
            http=http,
            clock=clock,
            credentials_hint="check WHOOP_CLIENT_SECRET",
        )
        with pytest.raises(ConfigError, match="check WHOOP_CLIENT_SECRET"):
            await oauth.exchange_code("whatever")
