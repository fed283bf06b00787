"""The sandbox answers like the Google Health API: queries, pagination, errors, limits."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx2
import pytest

from tests.fakes import FakeClock
from tests.sandbox.fitbit.conftest import API, bearer_for, civil_date
from wellpipe.core import RateLimit
from wellpipe.sandbox.fitbit import FitbitSandbox, History
from wellpipe.sandbox.fitbit.types import ACTIVITY, HEALTH_METRICS, SLEEP

STEPS = f"{API}/dataTypes/steps/dataPoints"
DAY = (
    'steps.interval.civil_start_time >= "2026-11-18" AND '
    'steps.interval.civil_start_time < "2026-11-19"'
)


def reason(response: httpx2.Response) -> str:
    details = response.json()["error"]["details"]
    return str(details[0]["reason"])


async def all_pages(
    http: httpx2.AsyncClient, path: str, headers: dict[str, str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    params = dict(params)
    while True:
        response = await http.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        points += body["dataPoints"]
        if "nextPageToken" not in body:
            return points
        params["pageToken"] = body["nextPageToken"]


# ------------------------------------------------------------------ list and pages
async def test_sleep_pages_hold_25_newest_first_and_end_without_a_token(
    http: httpx2.AsyncClient, bearer: dict[str, str], fitbit: FitbitSandbox
) -> None:
    path = f"{API}/dataTypes/sleep/dataPoints"
    first = (await http.get(path, params={"pageSize": 500}, headers=bearer)).json()
    assert len(first["dataPoints"]) == 25  # the default and the cap for sessions
    starts = [p["sleep"]["interval"]["startTime"] for p in first["dataPoints"]]
    assert starts == sorted(starts, reverse=True)
    everything = await all_pages(http, path, bearer, {})
    assert len(everything) == len(fitbit.member().points["sleep"])
    assert len({p["name"] for p in everything}) == len(everything)


async def test_the_default_page_is_1440_and_the_largest_10000(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    default = (await http.get(STEPS, headers=bearer)).json()
    heart_rate = f"{API}/dataTypes/heart-rate/dataPoints"
    largest = (await http.get(heart_rate, params={"pageSize": 20000}, headers=bearer)).json()
    assert len(default["dataPoints"]) == 1440
    assert len(largest["dataPoints"]) == 10_000
    assert "nextPageToken" in largest


async def test_a_page_token_belongs_to_its_query(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    token = (await http.get(STEPS, params={"pageSize": 5}, headers=bearer)).json()["nextPageToken"]
    other = await http.get(
        STEPS, params={"pageSize": 5, "pageToken": token, "filter": DAY}, headers=bearer
    )
    junk = await http.get(STEPS, params={"pageToken": "%%%"}, headers=bearer)
    assert other.status_code == junk.status_code == 400
    assert reason(other) == reason(junk) == "INVALID_PAGE_TOKEN"


async def test_heart_rate_pages_continue_where_they_stopped(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    path = f"{API}/dataTypes/heart-rate/dataPoints"
    filter_ = (
        'heart_rate.sample_time.physical_time >= "2026-11-20T00:00:00Z" AND '
        'heart_rate.sample_time.physical_time < "2026-11-20T06:00:00Z"'
    )
    points = await all_pages(http, path, bearer, {"filter": filter_, "pageSize": 100})
    times = [p["heartRate"]["sampleTime"]["physicalTime"] for p in points]
    assert len(times) == len(set(times)) > 250
    assert times == sorted(times, reverse=True)
    assert times[0] < "2026-11-20T06:00:00Z" <= "2026-11-20T06:00:00Z"
    assert times[-1] >= "2026-11-20T00:00:00Z"


# ------------------------------------------------------------------ sources and totals
async def test_list_double_counts_while_reconcile_and_daily_roll_up_merge(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    raw = await all_pages(http, STEPS, bearer, {"filter": DAY})
    merged = await all_pages(http, f"{STEPS}:reconcile", bearer, {"filter": DAY})
    rollup = await http.post(
        f"{STEPS}:dailyRollUp",
        json={"range": {"start": civil_date(2026, 11, 18), "end": civil_date(2026, 11, 19)}},
        headers=bearer,
    )
    platforms = {p["dataSource"]["platform"] for p in raw}
    raw_sum = sum(int(p["steps"]["count"]) for p in raw)
    merged_sum = sum(int(p["steps"]["count"]) for p in merged)
    tracker_sum = sum(
        int(p["steps"]["count"]) for p in raw if p["dataSource"]["platform"] == "FITBIT"
    )
    assert platforms == {"FITBIT", "HEALTH_CONNECT"}
    assert all("dataSource" not in p for p in merged)
    assert raw_sum > merged_sum > tracker_sum
    assert rollup.json()["rollupDataPoints"] == [
        {
            "civilStartTime": {"date": {"year": 2026, "month": 11, "day": 18}, "time": {}},
            "civilEndTime": {"date": {"year": 2026, "month": 11, "day": 19}, "time": {}},
            "steps": {"countSum": str(merged_sum)},
        }
    ]
    wearables = await all_pages(
        http,
        f"{STEPS}:reconcile",
        bearer,
        {"filter": DAY, "dataSourceFamily": "users/me/dataSourceFamilies/google-wearables"},
    )
    assert sum(int(p["steps"]["count"]) for p in wearables) == tracker_sum


async def test_roll_up_windows_sum_the_reconciled_stream(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    day = {"range": {"startTime": "2026-11-18T06:00:00Z", "endTime": "2026-11-19T06:00:00Z"}}
    whole = await http.post(f"{STEPS}:rollUp", json={**day, "windowSize": "86400s"}, headers=bearer)
    hourly = await http.post(
        f"{STEPS}:rollUp", json={**day, "windowSize": "3600s", "pageSize": 5}, headers=bearer
    )
    total = int(whole.json()["rollupDataPoints"][0]["steps"]["countSum"])
    first = hourly.json()
    assert len(first["rollupDataPoints"]) == 5
    assert first["nextPageToken"]
    pages = [first]
    while "nextPageToken" in pages[-1]:
        body = {
            **day,
            "windowSize": "3600s",
            "pageSize": 5,
            "pageToken": pages[-1]["nextPageToken"],
        }
        pages.append((await http.post(f"{STEPS}:rollUp", json=body, headers=bearer)).json())
    windows = [w for page in pages for w in page["rollupDataPoints"]]
    assert sum(int(w["steps"]["countSum"]) for w in windows) == total


@pytest.mark.parametrize(
    ("data_type", "days", "status"),
    [
        ("steps", 90, 200),
        ("steps", 91, 400),
        ("heart-rate", 14, 200),
        ("heart-rate", 15, 400),
        ("total-calories", 15, 400),
        ("active-minutes", 15, 400),
        ("distance", 91, 400),
    ],
)
async def test_daily_roll_up_ranges_are_limited(
    http: httpx2.AsyncClient, bearer: dict[str, str], data_type: str, days: int, status: int
) -> None:
    end = civil_date(2026, 11, 21)
    start = date(2026, 11, 21) - timedelta(days=days)
    body = {
        "range": {"start": civil_date(start.year, start.month, start.day), "end": end},
    }
    response = await http.post(
        f"{API}/dataTypes/{data_type}/dataPoints:dailyRollUp", json=body, headers=bearer
    )
    assert response.status_code == status, response.text
    if status == 400:
        assert reason(response) == "INVALID_ROLLUP_QUERY_DURATION"


async def test_daily_roll_up_needs_aligned_windows_and_has_no_page_token(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    week = {"start": civil_date(2026, 11, 14), "end": civil_date(2026, 11, 21)}
    by_week = await http.post(
        f"{STEPS}:dailyRollUp", json={"range": week, "windowSizeDays": 7}, headers=bearer
    )
    ragged = await http.post(
        f"{STEPS}:dailyRollUp", json={"range": week, "windowSizeDays": 3}, headers=bearer
    )
    noon = {**week, "start": {**civil_date(2026, 11, 14), "time": {"hours": 12}}}
    late = await http.post(f"{STEPS}:dailyRollUp", json={"range": noon}, headers=bearer)
    assert by_week.status_code == 200
    assert len(by_week.json()["rollupDataPoints"]) == 1
    assert set(by_week.json()) == {"rollupDataPoints"}
    assert ragged.status_code == late.status_code == 400
    assert reason(ragged) == reason(late) == "INVALID_ROLLUP_WINDOW"


async def test_personal_ranges_roll_up_daily_types(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    week = {"start": civil_date(2026, 11, 14), "end": civil_date(2026, 11, 21)}
    rhr = await http.post(
        f"{API}/dataTypes/daily-resting-heart-rate/dataPoints:dailyRollUp",
        json={"range": week},
        headers=bearer,
    )
    hrv = await http.post(
        f"{API}/dataTypes/daily-heart-rate-variability/dataPoints:rollUp",
        json={
            "range": {"startTime": "2026-11-14T00:00:00Z", "endTime": "2026-11-21T00:00:00Z"},
            "windowSize": "86400s",
        },
        headers=bearer,
    )
    ranges = [w["restingHeartRatePersonalRange"] for w in rhr.json()["rollupDataPoints"]]
    assert len(ranges) == 7
    assert all(r["beatsPerMinuteMin"] < r["beatsPerMinuteMax"] for r in ranges)
    assert hrv.status_code == 400
    assert reason(hrv) == "UNSUPPORTED_DATA_TYPE_ACTION"


# ------------------------------------------------------------------ filters
@pytest.mark.parametrize(
    ("data_type", "filter_"),
    [
        ("steps", 'steps.interval.start_time >= "2026-11-18T00:00:00Z"'),
        ("steps", DAY),
        ("heart-rate", 'heart_rate.sample_time.civil_time >= "2026-11-21T08:00:00"'),
        ("weight", 'weight.sample_time.physical_time < "2026-11-01T00:00:00Z"'),
        ("daily-oxygen-saturation", 'daily_oxygen_saturation.date >= "2026-11-10"'),
        ("exercise", 'exercise.interval.civil_start_time >= "2026-11-01"'),
        ("sleep", 'sleep.interval.end_time >= "2026-11-20T00:00:00Z"'),
        (
            "sleep",
            'sleep.interval.civil_end_time < "2026-10-02" OR '
            'sleep.interval.civil_end_time >= "2026-11-20"',
        ),
    ],
)
async def test_supported_filters(
    http: httpx2.AsyncClient, bearer: dict[str, str], data_type: str, filter_: str
) -> None:
    response = await http.get(
        f"{API}/dataTypes/{data_type}/dataPoints",
        params={"filter": filter_, "pageSize": 5},
        headers=bearer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["dataPoints"]


async def test_sleep_filters_on_the_civil_end_day(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    filter_ = (
        'sleep.interval.civil_end_time >= "2026-11-20" AND '
        'sleep.interval.civil_end_time < "2026-11-21"'
    )
    points = await all_pages(http, f"{API}/dataTypes/sleep/dataPoints", bearer, {"filter": filter_})
    assert points
    assert {p["sleep"]["interval"]["civilEndTime"]["date"]["day"] for p in points} == {20}
    either = await all_pages(
        http,
        f"{API}/dataTypes/sleep/dataPoints",
        bearer,
        {
            "filter": 'sleep.interval.civil_end_time < "2026-05-28" OR '
            'sleep.interval.civil_end_time >= "2026-11-20"'
        },
    )
    days = [
        "{year:04d}-{month:02d}-{day:02d}".format(**p["sleep"]["interval"]["civilEndTime"]["date"])
        for p in either
    ]
    assert all(d < "2026-05-28" or d >= "2026-11-20" for d in days)
    assert any(d < "2026-05-28" for d in days)
    assert any(d >= "2026-11-20" for d in days)


@pytest.mark.parametrize(
    ("data_type", "filter_", "expected"),
    [
        ("steps", 'sleep.interval.end_time >= "2026-11-20T00:00:00Z"', "INVALID_DATA_POINT_FILTER"),
        ("steps", 'steps.date >= "2026-11-20"', "INVALID_DATA_POINT_FILTER"),
        (
            "sleep",
            'sleep.interval.start_time >= "2026-11-20T00:00:00Z"',
            "INVALID_DATA_POINT_FILTER",
        ),
        (
            "exercise",
            'exercise.interval.start_time >= "2026-11-20T00:00:00Z"',
            "INVALID_DATA_POINT_FILTER",
        ),
        (
            "steps",
            'steps.interval.start_time > "2026-11-20T00:00:00Z"',
            "INVALID_DATA_POINT_FILTER",
        ),
        (
            "steps",
            'steps.interval.start_time < "2026-11-01T00:00:00Z" OR '
            'steps.interval.start_time >= "2026-11-20T00:00:00Z"',
            "INVALID_DATA_POINT_FILTER",
        ),
        ("steps", 'steps.interval.start_time >= "2026-11-20"', "INVALID_FILTER_FORMAT"),
        ("steps", 'steps.interval.civil_start_time >= "20 Nov"', "INVALID_CIVIL_DATE_TIME"),
        ("steps", "steps.interval.start_time >=", "INVALID_FILTER_FORMAT"),
        ("steps", f"{DAY} AND", "INVALID_FILTER_FORMAT"),
    ],
)
async def test_unsupported_filters_are_a_400(
    http: httpx2.AsyncClient, bearer: dict[str, str], data_type: str, filter_: str, expected: str
) -> None:
    response = await http.get(
        f"{API}/dataTypes/{data_type}/dataPoints", params={"filter": filter_}, headers=bearer
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert reason(response) == expected


# ------------------------------------------------------------------ resources and errors
async def test_get_only_for_identifiable_types(
    http: httpx2.AsyncClient, bearer: dict[str, str], fitbit: FitbitSandbox
) -> None:
    sleep = fitbit.member().points["sleep"][3]
    ok = await http.get(f"{API}/dataTypes/sleep/dataPoints/{sleep.point_id}", headers=bearer)
    steps = await http.get(f"{API}/dataTypes/steps/dataPoints/1234", headers=bearer)
    missing = await http.get(f"{API}/dataTypes/weight/dataPoints/9999", headers=bearer)
    malformed = await http.get(f"{API}/dataTypes/sleep/dataPoints/Not_An_Id", headers=bearer)
    assert ok.status_code == 200
    assert ok.json()["name"].endswith(f"/sleep/dataPoints/{sleep.point_id}")
    assert ok.json()["name"].startswith(f"users/{fitbit.member().user_id}/")
    assert (steps.status_code, reason(steps)) == (400, "UNSUPPORTED_DATA_TYPE_ACTION")
    assert (missing.status_code, reason(missing)) == (404, "RESOURCE_NOT_FOUND")
    assert malformed.status_code == 400


async def test_a_numeric_user_as_parent_is_a_400(
    http: httpx2.AsyncClient, bearer: dict[str, str], fitbit: FitbitSandbox
) -> None:
    own = fitbit.member().user_id
    response = await http.get(f"/v4/users/{own}/dataTypes/steps/dataPoints", headers=bearer)
    identity = await http.get(f"/v4/users/{own}/identity", headers=bearer)
    assert (response.status_code, reason(response)) == (400, "INVALID_ARGUMENT")
    assert identity.status_code == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{API}/dataTypes/stepz/dataPoints", "INVALID_DATA_TYPE"),
        (f"{API}/dataTypes/total-calories/dataPoints", "UNSUPPORTED_DATA_TYPE_ACTION"),
        (f"{API}/dataTypes/steps/dataPoints?pageSize=-1", "INVALID_PAGE_SIZE"),
        (
            f"{API}/dataTypes/steps/dataPoints:reconcile?dataSourceFamily=users/me/x",
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_bad_requests_carry_google_reasons(
    http: httpx2.AsyncClient, bearer: dict[str, str], path: str, expected: str
) -> None:
    response = await http.get(path, headers=bearer)
    assert response.status_code == 400
    assert reason(response) == expected


async def test_identity_profile_and_settings(
    http: httpx2.AsyncClient, bearer: dict[str, str], fitbit: FitbitSandbox
) -> None:
    identity = (await http.get(f"{API}/identity", headers=bearer)).json()
    profile = (await http.get(f"{API}/profile", headers=bearer)).json()
    settings = (await http.get(f"{API}/settings", headers=bearer)).json()
    assert identity["healthUserId"] == fitbit.member().user_id
    assert identity["legacyUserId"] == "9XKQ7B"
    assert profile["age"] == 37  # born 1989-04-17 (the demo's one person)
    assert settings["timeZone"] == "America/Panama"


# ------------------------------------------------------------------ auth, scopes, limits
@pytest.mark.parametrize(
    ("data_type", "granted", "allowed"),
    [
        ("sleep", {SLEEP}, True),
        ("daily-heart-rate-variability", {SLEEP}, False),
        ("daily-oxygen-saturation", {HEALTH_METRICS}, True),
        ("steps", {HEALTH_METRICS}, False),
        ("exercise", {ACTIVITY}, True),
        ("daily-vo2-max", {ACTIVITY}, True),
        ("weight", {ACTIVITY}, False),
    ],
)
async def test_scopes_cover_their_type_families(
    http: httpx2.AsyncClient,
    fitbit: FitbitSandbox,
    data_type: str,
    granted: set[str],
    allowed: bool,
) -> None:
    headers = bearer_for(fitbit, scopes=frozenset(granted))
    response = await http.get(f"{API}/dataTypes/{data_type}/dataPoints", headers=headers)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"]["status"] == "PERMISSION_DENIED"
        assert reason(response) == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


async def test_profile_and_settings_need_their_scopes(
    http: httpx2.AsyncClient, fitbit: FitbitSandbox
) -> None:
    headers = bearer_for(fitbit, scopes=frozenset({SLEEP}))
    assert (await http.get(f"{API}/identity", headers=headers)).status_code == 200
    assert (await http.get(f"{API}/profile", headers=headers)).status_code == 403
    assert (await http.get(f"{API}/settings", headers=headers)).status_code == 403


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer nope", "Basic dXNlcjpwYXNz"])
async def test_no_valid_bearer_is_a_401_envelope(
    http: httpx2.AsyncClient, header: str | None
) -> None:
    response = await http.get(
        f"{API}/identity", headers={"Authorization": header} if header else {}
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "Bearer" in response.headers["www-authenticate"]


async def test_an_expired_access_token_is_a_401(
    http: httpx2.AsyncClient, clock: FakeClock, bearer: dict[str, str]
) -> None:
    assert (await http.get(f"{API}/identity", headers=bearer)).status_code == 200
    clock.advance(3600)
    expired = await http.get(f"{API}/identity", headers=bearer)
    assert (expired.status_code, reason(expired)) == (401, "ACCESS_TOKEN_EXPIRED")


async def test_300_requests_a_minute_per_user_then_429(
    http: httpx2.AsyncClient, fitbit: FitbitSandbox, clock: FakeClock
) -> None:
    first = bearer_for(fitbit)
    second_member = bearer_for(fitbit, user_id=fitbit.member_ids[1])
    clock.advance(60 - clock.now().timestamp() % 60)  # the start of a minute window
    for _ in range(300):
        assert (await http.get(f"{API}/identity", headers=first)).status_code == 200
    limited = await http.get(f"{API}/identity", headers=first)
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert reason(limited) == "RATE_LIMIT_EXCEEDED"
    assert limited.headers["retry-after"] == "60"
    assert (await http.get(f"{API}/identity", headers=second_member)).status_code == 200
    clock.advance(60)
    assert (await http.get(f"{API}/identity", headers=first)).status_code == 200


async def test_retry_after_can_be_left_out_like_google(
    clock: FakeClock, fitbit_history: History
) -> None:
    sandbox = FitbitSandbox(
        clock=clock, history=fitbit_history, rate_limit=RateLimit(1, 60), retry_after=False
    )
    headers = bearer_for(sandbox)
    async with httpx2.AsyncClient(base_url="http://g.test", transport=sandbox.transport()) as http:
        assert (await http.get(f"{API}/identity", headers=headers)).status_code == 200
        limited = await http.get(f"{API}/identity", headers=headers)
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers
