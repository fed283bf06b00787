"""`OuraClient` against the in-process Oura sandbox: routes, pages, errors, parameters."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock, FlakyNetwork
from tests.providers.oura.conftest import connect_oura, oura_tokens
from wellpipe.core import (
    MemoryTokenProvider,
    NotFound,
    ProviderResponseError,
    ReauthorizationRequired,
    ScopeNotGranted,
)
from wellpipe.providers.oura import OuraProvider
from wellpipe.providers.oura.client import format_instant
from wellpipe.sandbox.faults import Fault
from wellpipe.sandbox.oura import History, OuraSandbox

API = "/v2/usercollection"
TODAY = date(2026, 11, 21)
MONTH_AGO = TODAY - timedelta(days=30)


def sent(sandbox: OuraSandbox, route: str) -> list[dict[str, str]]:
    return [dict(r.query) for r in sandbox.requests if r.path == f"{API}/{route}"]


def first_id(sandbox: OuraSandbox, route: str, **match: Any) -> str:
    docs = sandbox.member().collection(route)
    return next(d.id for d in docs if all(d.body.get(k) == v for k, v in match.items()))


async def test_every_member_data_route_returns_its_wire_model(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    client = oura.client
    window = {"start_date": TODAY - timedelta(days=10), "end_date": TODAY}
    listed = {
        "daily_sleep": [d.id async for d in client.daily_sleeps(**window)],
        "sleep": [d.id async for d in client.sleeps(**window)],
        "daily_readiness": [d.id async for d in client.daily_readiness(**window)],
        "daily_activity": [d.id async for d in client.daily_activity(**window)],
        "daily_spo2": [d.id async for d in client.daily_spo2(**window)],
        "daily_stress": [d.id async for d in client.daily_stress(**window)],
        "workout": [d.id async for d in client.workouts(**window)],
        "vO2_max": [d.id async for d in client.vo2_max(start_date=MONTH_AGO, end_date=TODAY)],
        "session": [d.id async for d in client.sessions(start_date=MONTH_AGO, end_date=TODAY)],
    }
    assert all(listed.values()), [route for route, ids in listed.items() if not ids]
    getters: dict[str, Callable[[str], Awaitable[Any]]] = {
        "daily_sleep": client.get_daily_sleep,
        "sleep": client.get_sleep,
        "daily_readiness": client.get_daily_readiness,
        "daily_activity": client.get_daily_activity,
        "daily_spo2": client.get_daily_spo2,
        "daily_stress": client.get_daily_stress,
        "workout": client.get_workout,
        "vO2_max": client.get_vo2_max,
        "session": client.get_session,
    }
    for route, get in getters.items():
        assert (await get(listed[route][0])).id == listed[route][0], route
    rows = [
        r async for r in client.heartrate(start_datetime=NOW - timedelta(hours=3), end_datetime=NOW)
    ]
    assert len(rows) == 36
    assert all(NOW - timedelta(hours=3) <= r.timestamp < NOW for r in rows)
    info = await client.get_personal_info()
    assert info.email == oura_sandbox.member().personal_info["email"]


async def test_collections_follow_next_token_to_the_end_with_the_same_bounds(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, page_size=7)
    async with connect_oura(sandbox, clock) as oura:
        periods = [p async for p in oura.client.sleeps(start_date=MONTH_AGO, end_date=TODAY)]
    queries = sent(sandbox, "sleep")
    assert len(queries) == -(-len(periods) // 7)
    assert {(q["start_date"], q["end_date"]) for q in queries} == {("2026-10-22", "2026-11-21")}
    assert "next_token" not in queries[0]
    assert all("next_token" in q for q in queries[1:])
    assert len({p.id for p in periods}) == len(periods)
    expected = [d.id for d in sandbox.member().collection("sleep") if MONTH_AGO <= d.day < TODAY]
    assert [p.id for p in periods] == expected


async def test_heart_rate_pages_and_sends_utc_instants(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, heartrate_page_size=100)
    start, end = NOW - timedelta(days=1), NOW
    async with connect_oura(sandbox, clock) as oura:
        rows = [r async for r in oura.client.heartrate(start_datetime=start, end_datetime=end)]
    queries = sent(sandbox, "heartrate")
    assert len(rows) == 288
    assert len(queries) == 3
    assert queries[0] == {
        "start_datetime": "2026-11-20T15:30:00Z",
        "end_datetime": "2026-11-21T15:30:00Z",
    }
    assert [r.timestamp for r in rows] == sorted({r.timestamp for r in rows})


async def test_a_next_token_that_repeats_stops_the_read(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    def loop(data: Any) -> Any:
        data["next_token"] = "d29ya291dDo1"
        return data

    oura_sandbox.inject(Fault(path_prefix=f"{API}/workout", mutate=loop, times=5))
    with pytest.raises(ProviderResponseError) as caught:
        [w async for w in oura.client.workouts(start_date=MONTH_AGO, end_date=TODAY)]
    assert caught.value.field == "next_token"
    assert caught.value.endpoint == f"GET {API}/workout"
    assert len(sent(oura_sandbox, "workout")) == 2


async def test_a_collection_that_never_ends_stops_at_the_page_cap(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    positions = iter(range(1, 100))

    def endless(data: Any) -> Any:  # a new, valid token on every page
        token = base64.urlsafe_b64encode(f"sleep:{next(positions)}".encode()).decode()
        data["next_token"] = token.rstrip("=")
        return data

    oura_sandbox.inject(Fault(path_prefix=f"{API}/sleep", mutate=endless, times=100))
    oura.client._max_pages = 3
    with pytest.raises(ProviderResponseError, match="did not end after 3 pages"):
        [p async for p in oura.client.sleeps(start_date=MONTH_AGO, end_date=TODAY)]
    assert len(sent(oura_sandbox, "sleep")) == 3


@pytest.mark.parametrize("token", ["", None])
async def test_an_empty_or_null_next_token_ends_the_collection(
    clock: FakeClock, oura_history: History, token: str | None
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, page_size=5)

    def end_here(data: Any) -> Any:
        data["next_token"] = token
        return data

    sandbox.inject(Fault(path_prefix=f"{API}/daily_sleep", mutate=end_here))
    async with connect_oura(sandbox, clock) as oura:
        days = [d async for d in oura.client.daily_sleeps(start_date=MONTH_AGO, end_date=TODAY)]
    assert len(days) == 5
    assert len(sent(sandbox, "daily_sleep")) == 1


async def test_an_unknown_document_is_not_found(oura: OuraProvider) -> None:
    with pytest.raises(NotFound) as caught:
        await oura.client.get_workout("no-such-workout")
    assert caught.value.endpoint == f"GET {API}/workout/{{document_id}}"
    assert "Oura has no workout document 'no-such-workout'" in str(caught.value)


async def test_document_ids_cannot_reach_another_route(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    network = FlakyNetwork(oura_sandbox.transport())
    async with connect_oura(oura_sandbox, clock, transport=network) as oura:
        with pytest.raises(NotFound):
            await oura.client.get_sleep("../personal_info")
        with pytest.raises(NotFound):
            await oura.client.get_sleep("..")
    assert [r.url.raw_path for r in network.sent] == [
        b"/v2/usercollection/sleep/..%2Fpersonal_info"
    ]
    assert not sent(oura_sandbox, "personal_info")


@pytest.mark.parametrize(
    ("missing", "route", "scope"),
    [
        ("daily", "sleep", "daily"),
        ("workout", "workout", "workout"),
        ("spo2Daily", "daily_spo2", "spo2Daily"),
    ],
)
async def test_a_403_names_the_scope_the_route_needs_and_a_lapsed_membership(
    oura_sandbox: OuraSandbox, clock: FakeClock, missing: str, route: str, scope: str
) -> None:
    from wellpipe.providers.oura.info import SCOPES

    granted = frozenset(SCOPES) - {missing}
    tokens = oura_tokens(oura_sandbox, clock, scopes=granted)
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        reads = {
            "sleep": oura.client.sleeps,
            "workout": oura.client.workouts,
            "daily_spo2": oura.client.daily_spo2,
        }
        with pytest.raises(ScopeNotGranted) as caught:
            [d async for d in reads[route](start_date=MONTH_AGO, end_date=TODAY)]
    assert caught.value.scope == scope
    message = str(caught.value)
    assert message.startswith(f"Oura did not give Wellpipe the `{scope}` permission")
    assert (
        f"run `wellpipe auth oura` to connect again and leave the `{scope}` permission" in message
    )
    assert "membership may have lapsed" in message
    assert await tokens.get_refresh_token() is not None  # a 403 never costs the grant


async def test_a_403_tells_the_cloud_user_to_reconnect_in_the_dashboard(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock, scopes=frozenset({"daily"}))
    async with connect_oura(
        oura_sandbox, clock, tokens=tokens, reconnect_action="reconnect Oura in the dashboard"
    ) as oura:
        with pytest.raises(ScopeNotGranted) as caught:
            await oura.client.get_personal_info()
    assert caught.value.scope == "personal"
    assert "reconnect Oura in the dashboard and leave the `personal` permission" in str(
        caught.value
    )


async def test_a_token_refused_after_refreshing_needs_reauthorization(
    oura: OuraProvider, oura_sandbox: OuraSandbox, tokens: MemoryTokenProvider
) -> None:
    oura_sandbox.inject(Fault(path_prefix=f"{API}/daily_sleep", status=401, times=2))
    with pytest.raises(ReauthorizationRequired, match="Oura refused the access token"):
        [d async for d in oura.client.daily_sleeps(start_date=MONTH_AGO, end_date=TODAY)]
    assert [r.status for r in oura_sandbox.requests] == [401, 200, 401]  # refreshed once
    assert await tokens.get_refresh_token() is not None


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("drop_required_field", "data", "a required field is missing"),
        ("truncated", None, "the body is not valid JSON"),
        ("not_json", None, "the body is not valid JSON"),
        ("empty", None, "the body is not valid JSON"),
    ],
)
async def test_a_malformed_collection_names_the_endpoint_and_the_field(
    oura: OuraProvider, oura_sandbox: OuraSandbox, body: Any, field: str | None, problem: str
) -> None:
    oura_sandbox.inject(Fault(path_prefix=f"{API}/daily_readiness", body=body))
    with pytest.raises(ProviderResponseError) as caught:
        [r async for r in oura.client.daily_readiness(start_date=MONTH_AGO, end_date=TODAY)]
    assert caught.value.endpoint == f"GET {API}/daily_readiness"
    assert caught.value.field == field
    assert caught.value.problem == problem


async def test_a_400_is_a_response_wellpipe_cannot_use(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    with pytest.raises(ProviderResponseError) as caught:
        [d async for d in oura.client.daily_activity(start_date=TODAY, end_date=MONTH_AGO)]
    assert caught.value.status == 400


def test_heart_rate_bounds_are_utc_seconds() -> None:
    assert format_instant(NOW) == "2026-11-21T15:30:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(NOW.replace(tzinfo=None))
