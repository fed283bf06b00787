"""Every body the Fitbit sandbox sends validates against Google's discovery document (closed)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.contract.google_spec import (
    DATA_POINT_UNION,
    DISCOVERY,
    SPEC_SHA256,
    method,
    spec_digest,
    validator,
)
from tests.sandbox.fitbit.conftest import API, civil_date
from wellpipe.sandbox.fitbit import DATA_TYPES, FitbitSandbox
from wellpipe.sandbox.fitbit.types import DataType

WINDOW = {
    "interval": ("interval.civil_start_time", '"2026-11-01"', '"2026-11-21"'),
    "sample": ("sample_time.civil_time", '"2026-11-19"', '"2026-11-21"'),
    "daily": ("date", '"2026-09-01"', '"2026-11-22"'),
}


def test_the_vendored_discovery_document_is_the_pinned_revision() -> None:
    assert spec_digest() == SPEC_SHA256
    assert DISCOVERY["revision"] == "20260805"


def test_the_schema_checker_refuses_what_google_would_not_send() -> None:
    steps = validator("Steps")
    good: dict[str, Any] = {
        "interval": {
            "startTime": "2026-11-20T14:00:00Z",
            "endTime": "2026-11-20T15:00:00Z",
            "startUtcOffset": "-21600s",
            "endUtcOffset": "-21600s",
            "civilStartTime": {
                "date": {"year": 2026, "month": 11, "day": 20},
                "time": {"hours": 8},
            },
        },
        "count": "412",
    }
    assert steps.is_valid(good)
    assert not steps.is_valid({**good, "count": 412})  # int64 is a string
    assert not steps.is_valid({**good, "extra": 1})  # closed
    assert not steps.is_valid({**good, "interval": {**good["interval"], "endUtcOffset": "-6h"}})
    assert not steps.is_valid({**good, "interval": {**good["interval"], "endTime": "today"}})
    assert not validator("Sleep").is_valid({"type": "NAP"})  # enum


def test_every_served_type_is_a_data_point_union_member() -> None:
    assert {t.field for t in DATA_TYPES.values() if t.listable} <= DATA_POINT_UNION
    rollups = DISCOVERY["schemas"]["DailyRollupDataPoint"]["properties"]
    assert {t.field for t in DATA_TYPES.values() if t.rollup} <= set(rollups)


def _filter(data_type: DataType) -> str | None:
    if data_type.kebab == "sleep":
        return 'sleep.interval.civil_end_time >= "2026-09-01"'
    if data_type.shape == "session":
        return f'{data_type.snake}.interval.civil_start_time >= "2026-09-01"'
    member, low, high = WINDOW[data_type.shape]
    field = f"{data_type.snake}.{member}"
    return f"{field} >= {low} AND {field} < {high}"


def _check_point(point: dict[str, Any], data_type: DataType, *, reconciled: bool) -> None:
    union = set(point) & DATA_POINT_UNION
    assert union == {data_type.field}
    if reconciled:
        assert "dataSource" not in point
        assert ("dataPointName" in point) == data_type.identifiable
    else:
        assert "dataSource" in point
        assert ("name" in point) == data_type.identifiable


@pytest.mark.parametrize(
    "data_type", [t for t in DATA_TYPES.values() if t.listable], ids=lambda t: t.kebab
)
@pytest.mark.parametrize("verb", ["list", "reconcile"])
async def test_list_and_reconcile_bodies_validate(
    http: httpx2.AsyncClient, bearer: dict[str, str], data_type: DataType, verb: str
) -> None:
    suffix = ":reconcile" if verb == "reconcile" else ""
    schema = validator("ReconcileDataPointsResponse" if suffix else "ListDataPointsResponse")
    params: dict[str, Any] = {"pageSize": 10_000}
    if (filter_ := _filter(data_type)) is not None:
        params["filter"] = filter_
    pages = 0
    while True:
        response = await http.get(
            f"{API}/dataTypes/{data_type.kebab}/dataPoints{suffix}", params=params, headers=bearer
        )
        assert response.status_code == 200, response.text
        body = response.json()
        errors = [e.message for e in schema.iter_errors(body)][:3]
        assert not errors, errors
        for point in body["dataPoints"]:
            _check_point(point, data_type, reconciled=bool(suffix))
        pages += 1
        if "nextPageToken" not in body or pages > 30:
            break
        params["pageToken"] = body["nextPageToken"]


@pytest.mark.parametrize(
    "data_type",
    [t for t in DATA_TYPES.values() if t.rollup or t.daily_rollup_only],
    ids=lambda t: t.kebab,
)
async def test_roll_up_bodies_validate(
    http: httpx2.AsyncClient, bearer: dict[str, str], data_type: DataType
) -> None:
    days = min(14, data_type.rollup_days)
    body = {"range": {"start": civil_date(2026, 11, 21 - days), "end": civil_date(2026, 11, 21)}}
    assert validator("DailyRollUpDataPointsRequest").is_valid(body)
    daily = await http.post(
        f"{API}/dataTypes/{data_type.kebab}/dataPoints:dailyRollUp", json=body, headers=bearer
    )
    assert daily.status_code == 200, daily.text
    errors = [
        e.message for e in validator("DailyRollUpDataPointsResponse").iter_errors(daily.json())
    ]
    assert not errors, errors[:3]
    if data_type.daily_rollup_only:
        return
    physical: dict[str, Any] = {
        "range": {"startTime": "2026-11-14T00:00:00Z", "endTime": "2026-11-21T00:00:00Z"},
        "windowSize": "3600s",
        "pageSize": 50,
    }
    assert validator("RollUpDataPointsRequest").is_valid(physical)
    rolled = await http.post(
        f"{API}/dataTypes/{data_type.kebab}/dataPoints:rollUp", json=physical, headers=bearer
    )
    assert rolled.status_code == 200, rolled.text
    errors = [e.message for e in validator("RollUpDataPointsResponse").iter_errors(rolled.json())]
    assert not errors, errors[:3]


async def test_user_resources_and_single_points_validate(
    http: httpx2.AsyncClient, bearer: dict[str, str], fitbit: FitbitSandbox
) -> None:
    for path, schema in (
        ("identity", "Identity"),
        ("profile", "Profile"),
        ("settings", "Settings"),
    ):
        body = (await http.get(f"{API}/{path}", headers=bearer)).json()
        assert validator(schema).is_valid(body), list(validator(schema).iter_errors(body))[:3]
    member = fitbit.member()
    for kind in ("sleep", "exercise", "weight"):
        for point in member.points[kind][:40]:
            response = await http.get(
                f"{API}/dataTypes/{kind}/dataPoints/{point.point_id}", headers=bearer
            )
            assert validator("DataPoint").is_valid(response.json())


@pytest.mark.parametrize(
    ("verb", "path", "body"),
    [
        ("GET", f"{API}/dataTypes/nope/dataPoints", None),
        ("GET", f"{API}/dataTypes/steps/dataPoints?filter=steps.date%3E%3D%222026-01-01%22", None),
        ("GET", f"{API}/dataTypes/steps/dataPoints/1234", None),
        ("GET", f"{API}/dataTypes/weight/dataPoints/99999", None),
        ("POST", f"{API}/dataTypes/steps/dataPoints:dailyRollUp", {"range": {}}),
        (
            "POST",
            f"{API}/dataTypes/heart-rate/dataPoints:dailyRollUp",
            {"range": {"start": civil_date(2026, 10, 1), "end": civil_date(2026, 11, 1)}},
        ),
        ("GET", f"{API}/identity", None),
    ],
)
async def test_error_bodies_are_google_envelopes(
    http: httpx2.AsyncClient, bearer: dict[str, str], verb: str, path: str, body: Any
) -> None:
    headers = bearer if path != f"{API}/identity" else {"Authorization": "Bearer expired"}
    response = await http.request(verb, path, json=body, headers=headers)
    assert response.status_code >= 400
    envelope = response.json()
    assert validator("ErrorEnvelope").is_valid(envelope), envelope
    assert envelope["error"]["code"] == response.status_code
    assert envelope["error"]["details"][0]["domain"] == "googleapis.com"


def test_the_routes_are_the_discovery_paths() -> None:
    assert method("users.dataTypes.dataPoints", "list")["flatPath"] == (
        "v4/users/{usersId}/dataTypes/{dataTypesId}/dataPoints"
    )
    assert method("users.dataTypes.dataPoints", "dailyRollUp")["httpMethod"] == "POST"
    assert method("users.dataTypes.dataPoints", "reconcile")["flatPath"].endswith(
        "dataPoints:reconcile"
    )
    assert method("users", "getIdentity")["flatPath"] == "v4/users/{usersId}/identity"
