"""The sandbox's Google OAuth server: PKCE, offline access, no rotation, revoke, Testing mode."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.fakes import FakeClock
from tests.sandbox.fitbit.conftest import API
from wellpipe.sandbox.fitbit import FitbitSandbox, History
from wellpipe.sandbox.fitbit.types import ACTIVITY, SLEEP

AUTH = "/o/oauth2/v2/auth"
REDIRECT = "http://127.0.0.1:8976/callback"
VERIFIER = "v" * 43 + "-verifier"
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
CLIENT = {"client_id": "test-client", "client_secret": "test-secret"}


def authorize_params(**extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "test-client",
        "redirect_uri": REDIRECT,
        "scope": f"{SLEEP} {ACTIVITY}",
        "state": "state-123",
        "access_type": "offline",
        "prompt": "consent",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }


async def consent(http: httpx2.AsyncClient, **extra: str) -> dict[str, list[str]]:
    response = await http.get(AUTH, params=authorize_params(**extra))
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)


async def exchange(
    http: httpx2.AsyncClient, code: str, verifier: str | None = VERIFIER
) -> httpx2.Response:
    form = {**CLIENT, "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        form["code_verifier"] = verifier
    return await http.post("/token", data=form)


async def test_the_code_flow_with_pkce_gives_offline_tokens(http: httpx2.AsyncClient) -> None:
    query = await consent(http)
    assert query["state"] == ["state-123"]
    assert query["scope"] == [" ".join(sorted([SLEEP, ACTIVITY]))]
    response = await exchange(http, query["code"][0])
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"]
    assert "refresh_token_expires_in" not in body
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.get(f"{API}/dataTypes/sleep/dataPoints", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "drop",
    ["code_challenge", "code_challenge_method", "state", "scope", "redirect_uri", "response_type"],
)
async def test_missing_authorize_parameters_are_an_error_page(
    http: httpx2.AsyncClient, drop: str
) -> None:
    params = authorize_params()
    del params[drop]
    response = await http.get(AUTH, params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_plain_pkce_is_refused(http: httpx2.AsyncClient) -> None:
    response = await http.get(AUTH, params=authorize_params(code_challenge_method="plain"))
    assert response.status_code == 400


async def test_the_verifier_is_required_and_checked(http: httpx2.AsyncClient) -> None:
    missing = await exchange(http, (await consent(http))["code"][0], verifier=None)
    wrong = await exchange(http, (await consent(http))["code"][0], verifier="x" * 50)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_grant")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")


async def test_a_code_works_once(http: httpx2.AsyncClient) -> None:
    code = (await consent(http))["code"][0]
    assert (await exchange(http, code)).status_code == 200
    assert (await exchange(http, code)).json()["error"] == "invalid_grant"


async def test_unticked_scopes_are_missing_from_the_grant(
    http: httpx2.AsyncClient, fitbit: FitbitSandbox
) -> None:
    fitbit.auth.controls.drop_scopes = frozenset({ACTIVITY})
    query = await consent(http)
    assert query["scope"] == [SLEEP]
    token = (await exchange(http, query["code"][0])).json()
    assert token["scope"] == SLEEP
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    steps = await http.get(f"{API}/dataTypes/steps/dataPoints", headers=headers)
    assert steps.status_code == 403


async def test_a_declined_consent_redirects_with_access_denied(
    http: httpx2.AsyncClient, fitbit: FitbitSandbox
) -> None:
    fitbit.auth.controls.deny_next = 1
    query = await consent(http)
    assert query == {"error": ["access_denied"], "state": ["state-123"]}


async def test_refresh_tokens_need_offline_access_and_first_consent_or_prompt(
    http: httpx2.AsyncClient,
) -> None:
    online = await exchange(http, (await consent(http, access_type="online"))["code"][0])
    assert "refresh_token" not in online.json()
    again = await exchange(http, (await consent(http, prompt=""))["code"][0])
    assert "refresh_token" not in again.json()  # consented before, no prompt=consent
    forced = await exchange(http, (await consent(http))["code"][0])
    assert "refresh_token" in forced.json()


async def test_refresh_tokens_do_not_rotate(
    http: httpx2.AsyncClient, fitbit: FitbitSandbox
) -> None:
    refresh = fitbit.issue_tokens(client_id="test-client")["refresh_token"]
    form = {**CLIENT, "grant_type": "refresh_token", "refresh_token": refresh}
    first = await http.post("/token", data=form)
    second = await http.post("/token", data=form)
    assert first.status_code == second.status_code == 200
    assert "refresh_token" not in first.json()
    assert first.json()["access_token"] != second.json()["access_token"]
    for body in (first.json(), second.json()):  # the earlier access token keeps working
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await http.get(f"{API}/identity", headers=headers)).status_code == 200


async def test_client_authentication(
    http: httpx2.AsyncClient, fitbit_history: History, clock: FakeClock
) -> None:
    pinned = FitbitSandbox(
        clock=clock, history=fitbit_history, client_id="test-client", client_secret="test-secret"
    )
    refresh = pinned.issue_tokens(client_id="test-client")["refresh_token"]
    async with httpx2.AsyncClient(base_url="http://g.test", transport=pinned.transport()) as client:
        wrong = await client.post(
            "/token",
            data={
                "client_id": "test-client",
                "client_secret": "nope",
                "grant_type": "refresh_token",
                "refresh_token": refresh,
            },
        )
        basic = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=("test-client", "test-secret"),
        )
        bogus = await client.post(
            "/token", data={**CLIENT, "grant_type": "refresh_token", "refresh_token": "1//0nope"}
        )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert basic.status_code == 200
    assert (bogus.status_code, bogus.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )


async def test_revoke_kills_the_grant(http: httpx2.AsyncClient, fitbit: FitbitSandbox) -> None:
    issued = fitbit.issue_tokens(client_id="test-client")
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    revoked = await http.post("/revoke", data={"token": issued["refresh_token"]})
    assert revoked.status_code == 200
    assert (await http.get(f"{API}/identity", headers=headers)).status_code == 401
    refresh = await http.post(
        "/token",
        data={**CLIENT, "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert (await http.post("/revoke", data={"token": issued["refresh_token"]})).status_code == 400


async def test_testing_mode_refresh_tokens_expire_after_seven_days(
    clock: FakeClock, fitbit_history: History
) -> None:
    sandbox = FitbitSandbox(clock=clock, history=fitbit_history, publishing_status="testing")
    async with httpx2.AsyncClient(base_url="http://g.test", transport=sandbox.transport()) as http:
        query = await consent(http)
        issued = (await exchange(http, query["code"][0])).json()
        assert issued["refresh_token_expires_in"] == 7 * 86400
        form = {**CLIENT, "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
        clock.advance(7 * 86400 - 60)
        assert (await http.post("/token", data=form)).status_code == 200
        clock.advance(60)
        expired = await http.post("/token", data=form)
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")
