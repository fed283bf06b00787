"""The Oura sandbox answers like Oura: date ranges, pages, OAuth, scopes, rate limits, faults."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW
from tests.fakes import FakeClock
from tests.sandbox.oura.conftest import ORIGIN
from wellpipe.core import RateLimit
from wellpipe.sandbox.oura import API, COLLECTIONS, Fault, History, OuraSandbox

FORM = {"content-type": "application/x-www-form-urlencoded"}
REDIRECT = "http://127.0.0.1:8976/callback"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _all(
    http: httpx2.AsyncClient, path: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    docs: list[dict[str, Any]] = []
    query, pages = dict(params), 0
    while True:
        response = await http.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        docs += body["data"]
        if body["next_token"] is None:
            return docs, pages
        query["next_token"] = body["next_token"]


# ------------------------------------------------------------------ dates and pages
async def test_a_bare_end_date_is_exclusive_and_a_date_time_end_includes_its_day(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    async def days(start: str, end: str) -> list[str]:
        params = {"start_date": start, "end_date": end}
        return [d["day"] for d in (await _all(http, f"{API}/daily_stress", params, bearer))[0]]

    assert await days("2026-11-10", "2026-11-12") == ["2026-11-10", "2026-11-11"]
    assert await days("2026-11-10", "2026-11-11T23:59:59") == ["2026-11-10", "2026-11-11"]
    assert await days("2026-11-10", "2026-11-10") == []


async def test_without_dates_the_last_week_comes_back(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    docs, _ = await _all(http, f"{API}/daily_activity", {}, bearer)
    today = oura.member().today
    assert [d["day"] for d in docs] == [
        (today - timedelta(days=n)).isoformat() for n in range(7, -1, -1)
    ]


@pytest.mark.parametrize("name", COLLECTIONS)
async def test_pagination_reaches_the_end_once_per_document(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str], name: str
) -> None:
    docs, pages = await _all(http, f"{API}/{name}", {"start_date": "2000-01-01"}, bearer)
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids))
    assert ids == [d.id for d in oura.member().collection(name)]
    assert pages == max(1, -(-len(ids) // 50))
    days = [d["day"] for d in docs]
    assert days == sorted(days)  # oldest first


@settings(max_examples=40)
@given(
    name=st.sampled_from(COLLECTIONS),
    start_back=st.integers(min_value=0, max_value=420),
    span=st.integers(min_value=0, max_value=200),
    page_size=st.integers(min_value=1, max_value=60),
)
async def test_any_window_and_page_size_returns_exactly_its_days(
    oura_history: History, name: str, start_back: int, span: int, page_size: int
) -> None:
    sandbox = OuraSandbox(
        clock=FakeClock(NOW), history=oura_history, rate_limit=None, page_size=page_size
    )
    member = sandbox.member()
    start = member.today - timedelta(days=start_back)
    end = start + timedelta(days=span)
    params = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        docs, pages = await _all(
            http, f"{API}/{name}", params, _auth(sandbox.issue_tokens()["access_token"])
        )
    expected = [d.id for d in member.collection(name) if start <= d.day < end]
    assert [d["id"] for d in docs] == expected
    assert pages == max(1, -(-len(expected) // page_size))


async def test_heart_rate_pages_through_a_window_without_gaps(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    params = {
        "start_datetime": (NOW - timedelta(days=7)).isoformat(),
        "end_datetime": NOW.isoformat(),
    }
    rows, pages = await _all(http, f"{API}/heartrate", params, bearer)
    stamps = [r["timestamp_unix"] for r in rows]
    assert len(stamps) == len(set(stamps)) == 7 * 288
    assert pages == 3  # 1000 rows a page
    assert stamps == sorted(stamps)
    latest = (
        await http.get(f"{API}/heartrate", params={**params, "latest": "true"}, headers=bearer)
    ).json()
    assert latest["data"] == rows[-1:]


async def test_gen2_has_no_spo2_at_all(oura: OuraSandbox, http: httpx2.AsyncClient) -> None:
    gen2 = oura.member_ids[1]
    token = oura.issue_tokens(gen2)["access_token"]
    docs, _ = await _all(http, f"{API}/daily_spo2", {"start_date": "2000-01-01"}, _auth(token))
    assert docs == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"{API}/sleep", {"start_date": "yesterday"}),
        (f"{API}/sleep", {"end_date": "2026-02-30"}),
        (f"{API}/sleep", {"start_date": "2026-11-10", "end_date": "2026-11-01"}),
        (f"{API}/sleep", {"next_token": "bm9wZQ"}),
        (f"{API}/workout", {"next_token": base64.urlsafe_b64encode(b"sleep:3").decode()}),
        (f"{API}/heartrate", {"start_datetime": "noon"}),
        (f"{API}/heartrate", {"start_datetime": "2026-01-01T00:00:00Z"}),  # over 30 days
        (f"{API}/heartrate", {"latest": "perhaps"}),
    ],
)
async def test_bad_parameters_are_a_400_naming_the_parameter(
    http: httpx2.AsyncClient, bearer: dict[str, str], path: str, params: dict[str, str]
) -> None:
    response = await http.get(path, params=params, headers=bearer)
    assert response.status_code == 400
    [problem] = response.json()["detail"]
    assert problem["loc"][0] == "query"
    assert problem["loc"][1] in params or problem["loc"][1] == "end_datetime"


async def test_documents_by_id_and_unknown_ones(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    sleep = oura.member().collection("sleep")[-1]
    assert (await http.get(f"{API}/sleep/{sleep.id}", headers=bearer)).json() == sleep.body
    assert (await http.get(f"{API}/daily_sleep/{sleep.id}", headers=bearer)).status_code == 404
    other = oura.member(oura.member_ids[1]).collection("sleep")[-1]
    assert (await http.get(f"{API}/sleep/{other.id}", headers=bearer)).status_code == 404


# ------------------------------------------------------------------ auth and scopes
@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer nope", "Basic dXNlcjpwYXNz"])
async def test_no_valid_bearer_is_a_401(http: httpx2.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    assert (await http.get(f"{API}/personal_info", headers=headers)).status_code == 401


async def test_an_expired_access_token_is_a_401(
    http: httpx2.AsyncClient, clock: FakeClock, bearer: dict[str, str]
) -> None:
    assert (await http.get(f"{API}/personal_info", headers=bearer)).status_code == 200
    clock.advance(86_400)
    assert (await http.get(f"{API}/personal_info", headers=bearer)).status_code == 401


async def test_each_route_needs_its_own_scope(oura: OuraSandbox, http: httpx2.AsyncClient) -> None:
    expected = {
        "daily": [
            "daily_sleep",
            "sleep",
            "daily_readiness",
            "daily_activity",
            "daily_stress",
            "vO2_max",
        ],
        "workout": ["workout"],
        "session": ["session"],
        "spo2Daily": ["daily_spo2"],
        "heartrate": ["heartrate"],
        "personal": ["personal_info"],
    }
    every = [route for routes in expected.values() for route in routes]
    for scope, routes in expected.items():
        headers = _auth(oura.issue_tokens(scopes=frozenset({scope}))["access_token"])
        for route in every:
            status = (await http.get(f"{API}/{route}", headers=headers)).status_code
            assert status == (200 if route in routes else 403), (scope, route, status)


async def test_personal_info_shows_only_what_was_granted(
    oura: OuraSandbox, http: httpx2.AsyncClient
) -> None:
    email_only = _auth(oura.issue_tokens(scopes=frozenset({"email"}))["access_token"])
    info = (await http.get(f"{API}/personal_info", headers=email_only)).json()
    assert info["email"] == oura.member().spec.email
    assert info["age"] is None
    assert info["weight"] is None


# ------------------------------------------------------------------ OAuth
async def _authorize(
    http: httpx2.AsyncClient, scope: str | None = "daily heartrate personal"
) -> dict[str, list[str]]:
    params = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "state": "s-123",
    }
    if scope is not None:
        params["scope"] = scope
    response = await http.get("/oauth/authorize", params=params)
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["location"]).query)


async def _exchange(http: httpx2.AsyncClient, code: str, basic: bool = False) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    headers = dict(FORM)
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(b"app:secret").decode()
    else:
        form |= {"client_id": "app", "client_secret": "secret"}
    return await http.post("/oauth/token", data=form, headers=headers)


async def _refresh(http: httpx2.AsyncClient, refresh_token: str) -> httpx2.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "app",
        "client_secret": "secret",
    }
    return await http.post("/oauth/token", data=form, headers=FORM)


async def test_the_code_flow_with_basic_client_auth(http: httpx2.AsyncClient) -> None:
    query = await _authorize(http)
    assert query["state"] == ["s-123"]
    assert query["scope"] == ["daily heartrate personal"]
    response = await _exchange(http, query["code"][0], basic=True)
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86_400
    assert body["refresh_token"]
    ok = await http.get(f"{API}/heartrate", headers=_auth(body["access_token"]))
    assert ok.status_code == 200
    assert (await _exchange(http, query["code"][0])).status_code == 400  # codes are single-use


async def test_no_scope_parameter_asks_for_every_scope(http: httpx2.AsyncClient) -> None:
    query = await _authorize(http, scope=None)
    assert set(query["scope"][0].split()) == {
        "email",
        "personal",
        "daily",
        "heartrate",
        "workout",
        "tag",
        "session",
        "spo2Daily",
    }


async def test_unticked_scopes_are_refused_on_their_route_only(
    oura: OuraSandbox, http: httpx2.AsyncClient
) -> None:
    oura.auth.controls.drop_scopes = frozenset({"heartrate"})
    query = await _authorize(http)
    assert query["scope"] == ["daily personal"]
    token = (await _exchange(http, query["code"][0])).json()["access_token"]
    assert (await http.get(f"{API}/heartrate", headers=_auth(token))).status_code == 403
    assert (await http.get(f"{API}/daily_sleep", headers=_auth(token))).status_code == 200


async def test_the_consent_page_lists_scopes_and_its_answer_grants_the_ticked_ones(
    oura: OuraSandbox, http: httpx2.AsyncClient
) -> None:
    oura.auth.controls.auto_approve = False
    params = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "scope": "daily workout",
        "state": "xyz",
    }
    page = await http.get("/oauth/authorize", params=params)
    assert page.status_code == 200
    assert 'name="scope" value="daily" checked' in page.text
    assert 'name="scope" value="workout" checked' in page.text
    form = {k: v for k, v in params.items() if k != "scope"} | {
        "scope": "workout",
        "decision": "accept",
    }
    answer = await http.post("/oauth/authorize", data=form, headers=FORM)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["scope"] == ["workout"]
    assert query["state"] == ["xyz"]
    denied = await http.post("/oauth/authorize", data={**form, "decision": "deny"}, headers=FORM)
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]


async def test_refresh_tokens_are_single_use_and_each_refresh_gives_a_new_pair(
    oura: OuraSandbox, http: httpx2.AsyncClient
) -> None:
    issued = oura.issue_tokens(client_id="app")
    first = await _refresh(http, issued["refresh_token"])
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != issued["refresh_token"]
    assert pair["access_token"] != issued["access_token"]
    again = await _refresh(http, issued["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["error_description"].startswith("Token already used or revoked")
    assert (await _refresh(http, pair["refresh_token"])).status_code == 200


async def test_revoke_kills_the_access_and_refresh_tokens(
    oura: OuraSandbox, http: httpx2.AsyncClient
) -> None:
    issued = oura.issue_tokens(client_id="app")
    headers = _auth(issued["access_token"])
    assert (await http.get(f"{API}/daily_sleep", headers=headers)).status_code == 200
    revoked = await http.get("/oauth/revoke", params={"access_token": issued["access_token"]})
    assert revoked.status_code == 200
    assert (await http.get(f"{API}/daily_sleep", headers=headers)).status_code == 401
    assert (await _refresh(http, issued["refresh_token"])).status_code == 400


async def test_a_pinned_client_refuses_other_credentials(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, client_id="app", client_secret="right")
    issued = sandbox.issue_tokens(client_id="app")
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        response = await _refresh(http, issued["refresh_token"])  # sends "secret"
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# ------------------------------------------------------------------ limits and faults
async def test_the_429_carries_ouras_five_headers(clock: FakeClock, oura_history: History) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, rate_limit=RateLimit(3, 300))
    token = sandbox.issue_tokens()["access_token"]
    other = sandbox.issue_tokens()["access_token"]
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        for _ in range(3):
            assert (await http.get(f"{API}/personal_info", headers=_auth(token))).status_code == 200
        limited = await http.get(f"{API}/personal_info", headers=_auth(token))
        assert limited.status_code == 429
        window_end = (int(clock.now().timestamp()) // 300 + 1) * 300
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert limited.headers["X-RateLimit-Window"] == "300"
        assert limited.headers["X-RateLimit-Reset"] == str(window_end)
        assert limited.headers["X-RateLimit-Tier"] == "token"
        assert int(limited.headers["Retry-After"]) == window_end - int(clock.now().timestamp())
        # the limit is per access token
        assert (await http.get(f"{API}/personal_info", headers=_auth(other))).status_code == 200
        clock.advance(int(limited.headers["Retry-After"]))
        assert (await http.get(f"{API}/personal_info", headers=_auth(token))).status_code == 200


async def test_the_application_layer_counts_every_token_of_the_app(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, app_rate_limit=RateLimit(2, 60))
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        statuses = []
        for _ in range(3):
            token = sandbox.issue_tokens(client_id="app")["access_token"]
            response = await http.get(f"{API}/personal_info", headers=_auth(token))
            statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert response.headers["X-RateLimit-Tier"] == "application"


async def test_faults_fire_on_the_data_routes(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    oura.inject(Fault(path_prefix=f"{API}/sleep", status=503, times=1))
    assert (await http.get(f"{API}/sleep", headers=bearer)).status_code == 503
    assert (await http.get(f"{API}/sleep", headers=bearer)).status_code == 200
    created = await http.post("/_sandbox/faults", json={"path_prefix": API, "status": 500})
    assert created.status_code == 201
    assert (await http.get(f"{API}/workout", headers=bearer)).status_code == 500


async def test_sandbox_control_routes(oura: OuraSandbox, http: httpx2.AsyncClient) -> None:
    info = (await http.get("/_sandbox")).json()
    assert info["page_size"] == 50
    assert len(info["members"]) == 2
    token = (await http.post("/_sandbox/tokens", json={"scopes": ["daily"]})).json()
    assert token["scope"] == "daily"
    controls = await http.post("/_sandbox/consent", json={"drop_scopes": ["heartrate"]})
    assert controls.json()["drop_scopes"] == ["heartrate"]
    assert oura.auth.controls.drop_scopes == {"heartrate"}
    assert (await http.get("/")).status_code == 200
