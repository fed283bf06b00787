"""What each built-in provider says it never measures (`ProviderInfo.unmeasured`) is true.

Tables leave out a column no provider shown can fill, so a field declared unmeasured that
a mapping does fill would hide data: each provider reads a month of its sandbox and no
record has a value where its provider said it never has one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import NOW
from tests.conftest import connect as connect_whoop
from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import connect as connect_fitbit
from tests.providers.oura.conftest import connect_oura
from wellpipe.core import HealthProvider
from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    CycleScore,
    DailyActivity,
    DailyVitals,
    DataKind,
    Profile,
    Readiness,
    Recovery,
    RecoveryScore,
    Sleep,
    SleepScore,
    TimeWindow,
    Workout,
    WorkoutScore,
)
from wellpipe.core.reading import READ_KINDS
from wellpipe.providers import available_providers, get_provider_info
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit.history import generate_history as google_history
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import generate_history as whoop_history

MODELS: dict[DataKind, tuple[type[BaseModel], ...]] = {
    DataKind.SLEEP: (Sleep, SleepScore),
    DataKind.RECOVERY: (Recovery, RecoveryScore),
    DataKind.WORKOUT: (Workout, WorkoutScore),
    DataKind.CYCLE: (Cycle, CycleScore),
    DataKind.READINESS: (Readiness,),
    DataKind.ACTIVITY: (DailyActivity,),
    DataKind.VITALS: (DailyVitals,),
    DataKind.PROFILE: (Profile,),
    DataKind.BODY_MEASUREMENT: (BodyMeasurement,),
}


@pytest.mark.parametrize("name", available_providers())
def test_every_unmeasured_field_is_a_field_of_its_kind(name: str) -> None:
    info = get_provider_info(name)
    for kind, fields in info.unmeasured:
        known = {field for model in MODELS[kind] for field in model.model_fields}
        assert set(fields) <= known, (kind, sorted(set(fields) - known))
        for field in fields:
            assert not info.measures(kind, field)


def _opener(name: str, clock: FakeClock) -> AbstractAsyncContextManager[HealthProvider]:
    if name == "whoop":
        return connect_whoop(WhoopSandbox(clock=clock, history=whoop_history(now=NOW)), clock)
    if name == "oura":
        return connect_oura(OuraSandbox(clock=clock, history=oura_history(now=NOW)), clock)
    return connect_fitbit(FitbitSandbox(clock=clock, history=google_history(now=NOW)), clock)


@pytest.fixture
async def provider(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Any]:
    async with _opener(request.param, clock) as opened:
        yield opened


def _filled(model: BaseModel, field: str) -> bool:
    dumped = model.model_dump()
    score = dumped.get("score") or {}
    return dumped.get(field) not in (None, {}, [], ()) or score.get(field) is not None


@pytest.mark.parametrize("provider", available_providers(), indirect=True)
async def test_no_record_fills_a_field_its_provider_says_it_never_measures(
    provider: HealthProvider,
) -> None:
    info = provider.info
    window = TimeWindow(start=NOW - timedelta(days=30), end=NOW)
    records = await provider.read(info.kinds & READ_KINDS, window)
    assert records.all()
    people: list[tuple[DataKind, BaseModel]] = [(DataKind.PROFILE, await provider.profile())]
    people.append((DataKind.BODY_MEASUREMENT, await provider.body_measurement()))
    for kind, fields in info.unmeasured:
        read: list[tuple[DataKind, BaseModel]] = [(kind, r) for r in records.of_kind(kind)]
        for _, model in [*read, *((k, m) for k, m in people if k is kind)]:
            filled = [field for field in fields if _filled(model, field)]
            assert not filled, (kind, filled, model)
