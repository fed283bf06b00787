"""`GoogleHealthClient` and Google's OAuth against the in-process sandbox."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.conftest import CREDENTIALS, NOW
from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import ORIGIN, connect, tokens_for
from wellpipe.core import (
    MemoryTokenProvider,
    ProviderRateLimited,
    ProviderResponseError,
    ReauthorizationRequired,
)
from wellpipe.net import RetryPolicy, build_http_client
from wellpipe.oauth import new_pkce
from wellpipe.providers.fitbit import FitbitProvider, FitbitSettings, fitbit_oauth_client
from wellpipe.sandbox.fitbit import Fault, FitbitSandbox

TODAY = date(2026, 11, 21)


def sent(sandbox: FitbitSandbox, suffix: str) -> list[dict[str, str]]:
    return [dict(r.query) for r in sandbox.requests if r.path.endswith(suffix)]


class BodySpy:
    """Forwards to the sandbox and keeps every JSON request body by path."""

    def __init__(self, sandbox: FitbitSandbox) -> None:
        self.inner = sandbox.transport()
        self.bodies: list[tuple[str, Any]] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and request.url.path.startswith("/v4/"):
            self.bodies.append((request.url.path, json.loads(request.content)))
        return await self.inner.handle_async_request(request)


async def test_every_read_returns_its_wire_model(
    fitbit: FitbitProvider, google: FitbitSandbox
) -> None:
    client, member = fitbit.client, google.member()
    assert (await client.get_identity()).healthUserId == member.user_id
    assert (await client.get_profile()).age == member.spec.age
    assert (await client.get_settings()).timeZone == member.spec.home_zone
    sleeps = [p async for p in client.reconcile("sleep", page_size=3)]
    assert sleeps
    [named, *_] = [p async for p in client.list_points("sleep", page_size=25)]
    assert named.name is not None
    point = await client.get("sleep", named.name.rsplit("/", 1)[-1])
    assert point.sleep == named.sleep
    start = NOW - timedelta(hours=6)
    hourly = await client.roll_up("heart-rate", start=start, end=NOW, window=timedelta(hours=1))
    assert len(hourly) == 6
    assert all(p.heartRate is not None for p in hourly)


async def test_list_and_reconcile_follow_next_page_token_with_the_same_filter(
    fitbit: FitbitProvider, google: FitbitSandbox
) -> None:
    query = f'sleep.interval.civil_end_time >= "{TODAY - timedelta(days=90)}"'
    points = [p async for p in fitbit.client.reconcile("sleep", filter=query)]
    pages = sent(google, "/sleep/dataPoints:reconcile")
    assert len(points) > 90
    assert len(pages) == math.ceil(len(points) / 25)
    assert {(q["filter"], q["pageSize"]) for q in pages} == {(query, "25")}
    assert "pageToken" not in pages[0]
    assert all("pageToken" in q for q in pages[1:])
    names = [p.dataPointName for p in points]
    assert len(set(names)) == len(names)


async def test_raw_list_points_carry_their_source(fitbit: FitbitProvider) -> None:
    day = TODAY - timedelta(days=3)
    query = (
        f'steps.interval.civil_start_time >= "{day}" '
        f'AND steps.interval.civil_start_time < "{day + timedelta(days=1)}"'
    )
    points = [p async for p in fitbit.client.list_points("steps", filter=query)]
    platforms = {p.dataSource.platform for p in points if p.dataSource is not None}
    assert len(platforms) == 2  # the tracker and the phone


async def test_daily_rollups_are_cut_to_googles_range_limits(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    spy = BodySpy(google)
    first, end = TODAY - timedelta(days=120), TODAY
    async with connect(google, clock, transport=httpx2.MockTransport(spy)) as provider:
        steps = await provider.client.daily_roll_up("steps", first=first, end=end)
        calories = await provider.client.daily_roll_up(
            "total-calories", first=TODAY - timedelta(days=30), end=end
        )
    ranges = {
        path.split("/")[-2]: [
            (b["range"]["start"]["date"]["day"], b["range"]["end"]["date"]["day"])
            for p, b in spy.bodies
            if p == path
        ]
        for path, _ in spy.bodies
    }
    assert len(ranges["steps"]) == 2  # 90 + 30 days
    assert len(ranges["total-calories"]) == 3  # 14 + 14 + 2 days
    assert all(b["windowSizeDays"] == 1 for _, b in spy.bodies)
    step_days = [p.civilStartTime.date.as_date() for p in steps]
    assert len(set(step_days)) == len(step_days)
    drawer = {TODAY - timedelta(days=26), TODAY - timedelta(days=25)}  # nothing recorded
    assert set(step_days) == {first + timedelta(days=n) for n in range(120)} - drawer
    calorie_days = [p.civilStartTime.date.as_date() for p in calories]
    assert set(calorie_days) == {TODAY - timedelta(days=n) for n in range(1, 31)} - drawer
    assert len(set(calorie_days)) == len(calorie_days)


async def test_a_repeated_page_token_is_refused(google: FitbitSandbox, clock: FakeClock) -> None:
    inner = google.transport()

    async def stuck(request: httpx2.Request) -> httpx2.Response:
        """A server that keeps answering its first page with the same token."""
        url = request.url.copy_remove_param("pageToken")
        forwarded = httpx2.Request(request.method, url, headers=request.headers)
        response = await inner.handle_async_request(forwarded)
        body = json.loads(await response.aread())
        body["nextPageToken"] = "again"
        return httpx2.Response(200, json=body)

    async with connect(google, clock, transport=httpx2.MockTransport(stuck)) as provider:
        with pytest.raises(ProviderResponseError) as caught:
            [p async for p in provider.client.reconcile("sleep")]
    assert caught.value.problem == "the same nextPageToken came back twice"
    assert len(sent(google, "/sleep/dataPoints:reconcile")) == 2


async def test_a_malformed_int64_names_the_field(
    fitbit: FitbitProvider, google: FitbitSandbox
) -> None:
    def numeric(data: Any) -> Any:
        rhr = data["dataPoints"][0]["dailyRestingHeartRate"]
        rhr["beatsPerMinute"] = int(rhr["beatsPerMinute"])
        return data

    google.inject(Fault(path_prefix="/v4/users/me/dataTypes/daily-resting", mutate=numeric))
    with pytest.raises(ProviderResponseError) as caught:
        [p async for p in fitbit.client.reconcile("daily-resting-heart-rate")]
    assert caught.value.field == "dataPoints[0].dailyRestingHeartRate.beatsPerMinute"


async def test_429_waits_for_retry_after_then_succeeds(
    fitbit: FitbitProvider, google: FitbitSandbox, clock: FakeClock
) -> None:
    google.inject(
        Fault(path_prefix="/v4/users/me/identity", status=429, headers={"Retry-After": "7"})
    )
    identity = await fitbit.client.get_identity()
    assert identity.healthUserId == google.member().user_id
    assert 7.0 in clock.slept
    assert [r.status for r in google.requests] == [429, 200]


async def test_a_long_retry_after_is_handed_to_the_caller(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    google.inject(
        Fault(path_prefix="/v4/users/me/identity", status=429, headers={"Retry-After": "600"})
    )
    async with connect(google, clock, retry=RetryPolicy(max_retry_after_s=60)) as provider:
        with pytest.raises(ProviderRateLimited) as caught:
            await provider.client.get_identity()
    assert caught.value.retry_after == 600


async def test_5xx_is_retried(fitbit: FitbitProvider, google: FitbitSandbox) -> None:
    google.inject(Fault(path_prefix="/v4/users/me/profile", status=503, times=2))
    assert (await fitbit.client.get_profile()).age == google.member().spec.age


async def test_consent_with_pkce_then_refresh_keeps_the_refresh_token(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    settings = FitbitSettings.for_origin(ORIGIN)
    pkce = new_pkce()
    async with build_http_client(base_url=ORIGIN, transport=google.transport()) as http:
        oauth = fitbit_oauth_client(
            settings=settings, credentials=CREDENTIALS, http=http, clock=clock
        )
        url = oauth.authorization_url("state-abcdefgh", code_challenge=pkce.challenge)
        consent = await http.get(url)
        assert consent.status_code == 302
        callback = parse_qs(urlsplit(consent.headers["location"]).query)
        assert callback["state"] == ["state-abcdefgh"]
        with pytest.raises(Exception, match="invalid_grant"):
            await oauth.exchange_code(callback["code"][0], code_verifier=new_pkce().verifier)
        consent = await http.get(url)
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        issued = await oauth.exchange_code(code, code_verifier=pkce.verifier)
    assert issued.refresh_token is not None
    tokens = MemoryTokenProvider(issued, clock=clock)
    clock.advance(2 * 3600)  # the access token expired
    async with connect(google, clock, tokens=tokens) as provider:
        await provider.client.get_identity()
    assert await tokens.get_access_token() != issued.access_token
    assert await tokens.get_refresh_token() == issued.refresh_token
    assert [r.path for r in google.requests][-2:] == ["/token", "/v4/users/me/identity"]


async def test_a_revoked_refresh_token_means_connect_again(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    tokens = tokens_for(google, clock)
    refresh = await tokens.get_refresh_token()
    assert refresh is not None
    async with build_http_client(base_url=ORIGIN, transport=google.transport()) as http:
        await http.post("/revoke", data={"token": refresh})
    clock.advance(2 * 3600)
    async with connect(google, clock, tokens=tokens, reconnect_action="reconnect") as provider:
        with pytest.raises(ReauthorizationRequired) as caught:
            await provider.client.get_identity()
    assert caught.value.action == "reconnect"
    assert tokens.reauthorization_reason is not None
