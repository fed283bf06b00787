"""The Oura client held to Oura's OpenAPI document: what it sends, and what it accepts."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel

from tests.conftest import NOW
from tests.contract.oura_spec import check_parameter, operation_for, validator
from tests.fakes import FakeClock
from tests.providers.oura import fixtures as fx
from tests.providers.oura.conftest import connect_oura
from wellpipe.core import DataKind, TimeWindow
from wellpipe.providers.oura import schemas as wire
from wellpipe.sandbox.oura import History, OuraSandbox, generate_history

API = "/v2/usercollection"


@pytest.fixture(scope="module")
def oura_history() -> History:
    return generate_history(now=NOW)


def _template(request: httpx2.Request) -> str:
    found = operation_for(request.method, request.url.path)
    assert found is not None, f"no operation in the spec for {request.method} {request.url.path}"
    return found[0].template


def check_request(request: httpx2.Request) -> None:
    """Every query parameter is one the operation declares, and valid for its schema."""
    found = operation_for(request.method, request.url.path)
    assert found is not None, f"no operation in the spec for {request.method} {request.url.path}"
    operation, path_params = found
    assert set(path_params) == set(operation.parameters("path"))
    declared = operation.parameters("query")
    for name, value in request.url.params.multi_items():
        assert name in declared, f"{operation.template} has no query parameter {name!r}"
        assert check_parameter(declared[name]["schema"], value), (
            f"{operation.template}?{name}={value} does not fit the spec"
        )


async def test_every_request_the_client_sends_is_valid_for_its_operation(
    clock: FakeClock, oura_history: History
) -> None:
    sandbox = OuraSandbox(clock=clock, history=oura_history, page_size=20)
    inner = sandbox.transport()
    seen: list[httpx2.Request] = []

    async def spy(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith(API):
            seen.append(request)
        return await inner.handle_async_request(request)

    member = sandbox.member()
    async with connect_oura(sandbox, clock, transport=httpx2.MockTransport(spy)) as oura:
        kinds = oura.info.kinds - {DataKind.PROFILE, DataKind.BODY_MEASUREMENT}
        await oura.read(kinds, TimeWindow(start=NOW - timedelta(days=45), end=NOW))
        await oura.profile()
        for route in ("daily_sleep", "daily_spo2", "daily_stress", "vO2_max", "session"):
            doc_id = member.collection(route)[-1].id
            getter = {
                "daily_sleep": oura.client.get_daily_sleep,
                "daily_spo2": oura.client.get_daily_spo2,
                "daily_stress": oura.client.get_daily_stress,
                "vO2_max": oura.client.get_vo2_max,
                "session": oura.client.get_session,
            }[route]
            await getter(doc_id)
        sessions = oura.client.sessions(start_date=date(2026, 10, 1), end_date=date(2026, 11, 22))
        assert [session async for session in sessions]
        rows = oura.client.heartrate(start_datetime=NOW - timedelta(hours=6), end_datetime=NOW)
        assert [row async for row in rows]
    routes = {_template(r) for r in seen}
    assert len(routes) == 16
    assert any("next_token" in r.url.params for r in seen)
    for request in seen:
        check_request(request)


def test_the_request_checker_refuses_what_oura_would_not_accept() -> None:
    good = httpx2.Request("GET", f"http://x{API}/sleep", params={"start_date": "2026-11-01"})
    check_request(good)
    for params in ({"start_date": "01/11/2026"}, {"start": "2026-11-01"}):
        with pytest.raises(AssertionError):
            check_request(httpx2.Request("GET", f"http://x{API}/sleep", params=params))
    with pytest.raises(AssertionError):
        check_request(
            httpx2.Request(
                "GET", f"http://x{API}/heartrate", params={"start_datetime": "2026-11-01"}
            )
        )


FIXTURES: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    *[("PublicModifiedSleepModel", p, wire.PublicModifiedSleepModel) for p in fx.PERIODS],
    *[("PublicDailySleep", d, wire.PublicDailySleep) for d in fx.DAILY_SLEEPS],
    ("PublicDailyReadiness", fx.daily_readiness("2026-11-20"), wire.PublicDailyReadiness),
    ("PublicDailyActivity", fx.daily_activity("2026-11-20"), wire.PublicDailyActivity),
    ("PublicWorkout", fx.workout(), wire.PublicWorkout),
    ("PublicDailySpO2", fx.daily_spo2("2026-11-20"), wire.PublicDailySpO2),
    ("PublicDailySpO2", fx.daily_spo2("2026-11-20", None, None), wire.PublicDailySpO2),
    ("PublicDailyStress", fx.daily_stress("2026-11-20"), wire.PublicDailyStress),
    ("PublicVO2Max", fx.vo2_max("2026-11-20"), wire.PublicVO2Max),
    ("PersonalInfoResponse", fx.PERSONAL_INFO, wire.PersonalInfo),
    ("PublicSession", fx.SESSION, wire.PublicSession),
    ("PublicHeartRateRow", fx.HEART_RATE_ROW, wire.PublicHeartRateRow),
]


@pytest.mark.parametrize(("schema", "body", "model"), FIXTURES)
def test_the_mapping_fixtures_are_valid_oura_bodies(
    schema: str, body: dict[str, Any], model: type[BaseModel]
) -> None:
    errors = [e.message for e in validator(schema).iter_errors(body)]
    assert not errors
    model.model_validate_json(json.dumps(body))


ROUTE_MODELS: dict[str, type[BaseModel]] = {
    "daily_activity": wire.PublicDailyActivity,
    "daily_readiness": wire.PublicDailyReadiness,
    "daily_sleep": wire.PublicDailySleep,
    "daily_spo2": wire.PublicDailySpO2,
    "daily_stress": wire.PublicDailyStress,
    "session": wire.PublicSession,
    "sleep": wire.PublicModifiedSleepModel,
    "vO2_max": wire.PublicVO2Max,
    "workout": wire.PublicWorkout,
}


@pytest.mark.parametrize("route", sorted(ROUTE_MODELS))
def test_the_wire_models_accept_every_sandbox_document(oura_history: History, route: str) -> None:
    model = ROUTE_MODELS[route]
    for member in oura_history.members.values():
        for doc in member.collection(route):
            model.model_validate_json(json.dumps(doc.body))
