"""The sandbox answers like WHOOP: status codes, OAuth, rate limits, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.core import RateLimit
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.whoop import History

API = "/developer/v2"
AUTH = "/oauth/oauth2/auth"
TOKEN = "/oauth/oauth2/token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def http(sandbox: WhoopSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        base_url="http://whoop.test", transport=sandbox.transport()
    ) as client:
        yield client


@pytest.fixture
def bearer(sandbox: WhoopSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.issue_tokens()['access_token']}"}


# ------------------------------------------------------------------ data endpoints
@pytest.mark.parametrize("limit", ["26", "0", "-1", "ten"])
async def test_a_bad_limit_is_a_400(
    http: httpx2.AsyncClient, bearer: dict[str, str], limit: str
) -> None:
    response = await http.get(f"{API}/cycle", params={"limit": limit}, headers=bearer)
    assert response.status_code == 400


async def test_the_default_page_holds_ten_and_the_largest_25(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    default = (await http.get(f"{API}/activity/workout", headers=bearer)).json()
    largest = (
        await http.get(f"{API}/activity/workout", params={"limit": 25}, headers=bearer)
    ).json()
    assert len(default["records"]) == 10
    assert len(largest["records"]) == 25
    assert largest["next_token"]


async def test_the_last_page_has_no_next_token(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    params: dict[str, str | int] = {
        "start": "2026-11-20T00:00:00.000Z",
        "end": "2026-11-21T00:00:00.000Z",
        "limit": 25,
    }
    body = (await http.get(f"{API}/cycle", params=params, headers=bearer)).json()
    assert 1 <= len(body["records"]) <= 3
    assert "next_token" not in body


@pytest.mark.parametrize(
    "params",
    [
        {"nextToken": "not*a*token"},
        {"start": "yesterday"},
        {"end": "2026-11-20T00:00:00"},  # no time zone
        {"start": "2026-11-21T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
    ],
)
async def test_bad_query_parameters_are_a_400(
    http: httpx2.AsyncClient, bearer: dict[str, str], params: dict[str, str]
) -> None:
    assert (
        await http.get(f"{API}/activity/sleep", params=params, headers=bearer)
    ).status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer nope", "Basic dXNlcjpwYXNz"])
async def test_no_valid_bearer_is_a_401(http: httpx2.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    assert (await http.get(f"{API}/user/profile/basic", headers=headers)).status_code == 401


async def test_an_expired_access_token_is_a_401(
    http: httpx2.AsyncClient, sandbox: WhoopSandbox, clock: FakeClock, bearer: dict[str, str]
) -> None:
    assert (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code == 200
    clock.advance(3600)
    assert (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code == 401


async def test_a_token_without_the_scope_is_a_401(
    http: httpx2.AsyncClient, sandbox: WhoopSandbox
) -> None:
    token = sandbox.issue_tokens(scopes=frozenset({"read:sleep"}))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await http.get(f"{API}/activity/sleep", headers=headers)).status_code == 200
    assert (await http.get(f"{API}/recovery", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{API}/cycle/1", 404),
        (f"{API}/cycle/abc", 400),
        (f"{API}/cycle/99999999999999999999", 400),
        (f"{API}/activity/sleep/ecfc6a15-4661-442f-a9a4-f160dd7afae8", 404),
        (f"{API}/activity/sleep/1234", 400),
        (f"{API}/activity/workout/not-a-uuid", 400),
        (f"{API}/nothing/here", 404),
    ],
)
async def test_unknown_and_malformed_ids(
    http: httpx2.AsyncClient, bearer: dict[str, str], path: str, status: int
) -> None:
    assert (await http.get(path, headers=bearer)).status_code == status


async def test_another_members_records_are_not_found(
    http: httpx2.AsyncClient, sandbox: WhoopSandbox, bearer: dict[str, str]
) -> None:
    sams_cycle = sandbox.member(20458).cycles[2].body["id"]
    assert (await http.get(f"{API}/cycle/{sams_cycle}", headers=bearer)).status_code == 404


async def test_the_current_cycle_has_no_recovery_until_its_sleep_ends(
    clock: FakeClock, history: History
) -> None:
    asleep = WhoopSandbox(now=NOW.replace(hour=8), clock=clock, members=1)
    current = asleep.member().cycles[0].body["id"]
    headers = {"Authorization": f"Bearer {asleep.issue_tokens()['access_token']}"}
    async with httpx2.AsyncClient(base_url="http://w.test", transport=asleep.transport()) as http:
        assert (
            await http.get(f"{API}/cycle/{current}/recovery", headers=headers)
        ).status_code == 404
        assert (await http.get(f"{API}/cycle/{current}/sleep", headers=headers)).status_code == 404


async def test_revoking_access_is_a_204_that_kills_the_token(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    response = await http.delete(f"{API}/user/access", headers=bearer)
    assert response.status_code == 204
    assert response.content == b""
    assert (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code == 401


# ------------------------------------------------------------------ rate limits
async def test_rate_limit_headers_name_the_closest_limit(
    http: httpx2.AsyncClient, bearer: dict[str, str], clock: FakeClock
) -> None:
    response = await http.get(f"{API}/user/profile/basic", headers=bearer)
    assert response.headers["x-ratelimit-limit"] == "100, 100;window=60, 10000;window=86400"
    assert response.headers["x-ratelimit-remaining"] == "99"
    assert 1 <= int(response.headers["x-ratelimit-reset"]) <= 60


async def test_the_101st_request_in_a_minute_is_a_429_until_the_window_resets(
    http: httpx2.AsyncClient, bearer: dict[str, str], clock: FakeClock
) -> None:
    statuses = [
        (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code
        for _ in range(101)
    ]
    assert statuses == [200] * 100 + [429]
    limited = await http.get(f"{API}/user/profile/basic", headers=bearer)
    assert limited.headers["x-ratelimit-remaining"] == "0"
    clock.advance(int(limited.headers["x-ratelimit-reset"]))
    assert (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code == 200


async def test_the_daily_limit_applies_across_minutes(clock: FakeClock, history: History) -> None:
    sandbox = WhoopSandbox(
        clock=clock, history=history, rate_limits=(RateLimit(100, 60), RateLimit(150, 86_400))
    )
    headers = {"Authorization": f"Bearer {sandbox.issue_tokens()['access_token']}"}
    async with httpx2.AsyncClient(base_url="http://w.test", transport=sandbox.transport()) as http:
        statuses = []
        for _minute in range(3):
            statuses += [
                (await http.get(f"{API}/user/profile/basic", headers=headers)).status_code
                for _ in range(60)
            ]
            clock.advance(60)
        assert statuses.count(200) == 150
        last = await http.get(f"{API}/user/profile/basic", headers=headers)
        assert last.headers["x-ratelimit-limit"].startswith("150, ")


async def test_apps_have_separate_budgets(
    http: httpx2.AsyncClient, sandbox: WhoopSandbox, bearer: dict[str, str]
) -> None:
    for _ in range(100):
        await http.get(f"{API}/user/profile/basic", headers=bearer)
    other = sandbox.issue_tokens(client_id="another-app")["access_token"]
    response = await http.get(
        f"{API}/user/profile/basic", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 200


# ------------------------------------------------------------------ OAuth
def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": "http://127.0.0.1:8976/callback",
        "scope": "read:sleep read:profile offline",
        "state": "state-1234",
    }
    params.update(overrides)
    return params


async def consent(http: httpx2.AsyncClient, **overrides: str) -> dict[str, list[str]]:
    response = await http.get(AUTH, params=authorize_params(**overrides))
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["location"]).query)


async def exchange(http: httpx2.AsyncClient, code: str, **overrides: str) -> httpx2.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1:8976/callback",
        "client_id": "app",
        "client_secret": "secret",
    }
    form.update(overrides)
    return await http.post(TOKEN, data=form, headers=FORM)


async def refresh(http: httpx2.AsyncClient, token: str, **overrides: str) -> httpx2.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "app",
        "client_secret": "secret",
        "scope": "offline",
    }
    form.update(overrides)
    return await http.post(TOKEN, data=form, headers=FORM)


async def test_authorize_approves_and_returns_code_scope_and_state(
    http: httpx2.AsyncClient,
) -> None:
    answer = await consent(http)
    assert answer["state"] == ["state-1234"]
    assert answer["scope"] == ["offline read:profile read:sleep"]
    assert answer["code"][0]


async def test_a_state_under_eight_characters_is_refused(http: httpx2.AsyncClient) -> None:
    answer = await consent(http, state="1234567")
    assert answer["error"] == ["invalid_state"]
    assert "code" not in answer


async def test_an_unknown_scope_is_refused(http: httpx2.AsyncClient) -> None:
    assert (await consent(http, scope="read:body offline"))["error"] == ["invalid_scope"]


async def test_a_member_can_decline(http: httpx2.AsyncClient, sandbox: WhoopSandbox) -> None:
    sandbox.auth.controls.deny_next = 1
    assert (await consent(http))["error"] == ["access_denied"]
    assert "code" in await consent(http)


async def test_without_a_redirect_uri_nothing_is_redirected(http: httpx2.AsyncClient) -> None:
    response = await http.get(AUTH, params=authorize_params(redirect_uri=""))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_a_code_buys_tokens_once_and_only_with_its_redirect_uri(
    http: httpx2.AsyncClient,
) -> None:
    code = (await consent(http))["code"][0]
    assert (await exchange(http, code, redirect_uri="http://elsewhere/cb")).json()[
        "error"
    ] == "invalid_grant"
    code = (await consent(http))["code"][0]
    first = await exchange(http, code)
    body = first.json()
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "offline read:profile read:sleep"
    replay = await exchange(http, code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


async def test_codes_expire(http: httpx2.AsyncClient, clock: FakeClock) -> None:
    code = (await consent(http))["code"][0]
    clock.advance(601)
    assert (await exchange(http, code)).json()["error"] == "invalid_grant"


async def test_no_offline_no_refresh_token(http: httpx2.AsyncClient) -> None:
    code = (await consent(http, scope="read:sleep"))["code"][0]
    assert "refresh_token" not in (await exchange(http, code)).json()


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(
    http: httpx2.AsyncClient,
) -> None:
    first = (await exchange(http, (await consent(http))["code"][0])).json()
    second = (await refresh(http, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    old_bearer = {"Authorization": f"Bearer {first['access_token']}"}
    new_bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await http.get(f"{API}/user/profile/basic", headers=old_bearer)).status_code == 401
    assert (await http.get(f"{API}/user/profile/basic", headers=new_bearer)).status_code == 200
    reuse = await refresh(http, first["refresh_token"])
    assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
    assert (await http.get(f"{API}/user/profile/basic", headers=new_bearer)).status_code == 401
    assert (await refresh(http, second["refresh_token"])).json()["error"] == "invalid_grant"


async def test_reuse_can_be_lenient(clock: FakeClock, history: History) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history, revoke_family_on_reuse=False)
    async with httpx2.AsyncClient(base_url="http://w.test", transport=sandbox.transport()) as http:
        first = (await exchange(http, (await consent(http))["code"][0])).json()
        second = (await refresh(http, first["refresh_token"])).json()
        assert (await refresh(http, first["refresh_token"])).json()["error"] == "invalid_grant"
        assert (await refresh(http, second["refresh_token"])).status_code == 200


async def test_refresh_cannot_widen_the_grant(http: httpx2.AsyncClient) -> None:
    first = (await exchange(http, (await consent(http))["code"][0])).json()
    widened = await refresh(http, first["refresh_token"], scope="offline read:recovery")
    assert widened.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        ({"client_secret": ""}, {}, 401, "invalid_client"),
        (
            {"client_secret": "", "client_id": ""},
            {"authorization": "Basic YXBwOnNlY3JldA=="},
            401,
            "invalid_client",
        ),
        ({"grant_type": "password"}, {}, 400, "unsupported_grant_type"),
    ],
)
async def test_token_endpoint_errors(
    http: httpx2.AsyncClient, form: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    body = {
        "grant_type": "authorization_code",
        "code": "x",
        "client_id": "app",
        "client_secret": "s",
    }
    body.update(form)
    response = await http.post(TOKEN, data=body, headers={**FORM, **headers})
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_a_pinned_client_is_the_only_one_accepted(clock: FakeClock, history: History) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history, client_id="app", client_secret="right")
    async with httpx2.AsyncClient(base_url="http://w.test", transport=sandbox.transport()) as http:
        refused = await http.get(AUTH, params=authorize_params(client_id="other"))
        assert refused.status_code == 400
        code = (await consent(http))["code"][0]
        assert (await exchange(http, code, client_secret="wrong")).status_code == 401
        assert (await exchange(http, code, client_secret="right")).status_code == 200


# ------------------------------------------------------------------ faults and sandbox-only routes
async def test_a_fault_fires_its_count_then_stops(
    http: httpx2.AsyncClient, sandbox: WhoopSandbox, bearer: dict[str, str]
) -> None:
    sandbox.inject(
        Fault(path_prefix=f"{API}/user", status=502, times=2, methods=frozenset({"GET"}))
    )
    statuses = [
        (await http.get(f"{API}/user/profile/basic", headers=bearer)).status_code for _ in range(3)
    ]
    assert statuses == [502, 502, 200]


async def test_faults_can_be_set_over_http(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    created = await http.post(
        "/_sandbox/faults", json={"path_prefix": f"{API}/cycle", "status": 503}
    )
    assert created.status_code == 201
    assert (await http.get(f"{API}/cycle", headers=bearer)).status_code == 503
    assert (await http.post("/_sandbox/faults", json={"body": "sideways"})).status_code == 400
    await http.post("/_sandbox/faults", json={"status": 500, "times": 5})
    assert (await http.delete("/_sandbox/faults")).status_code == 204
    assert (await http.get(f"{API}/cycle", headers=bearer)).status_code == 200


async def test_sandbox_info_tokens_and_landing_page(http: httpx2.AsyncClient) -> None:
    info = (await http.get("/_sandbox")).json()
    assert [m["user_id"] for m in info["members"]] == [10129, 20458]
    assert info["base_url"] == "http://whoop.test"
    minted: dict[str, Any] = (await http.post("/_sandbox/tokens", json={"user_id": 20458})).json()
    profile = await http.get(
        f"{API}/user/profile/basic", headers={"Authorization": f"Bearer {minted['access_token']}"}
    )
    assert profile.json()["first_name"] == "Sam"
    page = await http.get("/")
    assert "export WELLPIPE_WHOOP_BASE_URL=http://whoop.test" in page.text
