"""`FitbitProvider` against the in-process Google Health sandbox."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import connect, tokens_for
from wellpipe.core import (
    DataKind,
    DayRange,
    NotFound,
    ReauthorizationRequired,
    ScopeNotGranted,
    ScoreState,
    UnsupportedDataKind,
    read_days,
)
from wellpipe.providers.fitbit import FitbitProvider
from wellpipe.providers.fitbit.info import (
    ACTIVITY_SCOPE,
    HEALTH_METRICS_SCOPE,
    PROFILE_SCOPE,
    SETTINGS_SCOPE,
    SLEEP_SCOPE,
)
from wellpipe.sandbox.fitbit import FitbitSandbox

TODAY = date(2026, 11, 21)
ALL = {DataKind.SLEEP, DataKind.WORKOUT, DataKind.ACTIVITY, DataKind.VITALS}


def steps_of_list(sandbox: FitbitSandbox, day: date) -> int:
    """What summing the raw ``list`` points of a day would give: every source counted."""
    member = sandbox.member()
    return sum(int(p.value["count"]) for p in member.points["steps"] if p.civil_start.date() == day)


async def test_a_week_has_a_night_activity_and_vitals_every_day(fitbit: FitbitProvider) -> None:
    days = DayRange.ending(TODAY - timedelta(days=1), days=7)
    summaries = await read_days(fitbit, days)
    assert [s.day for s in summaries] == days.days()
    for summary in summaries:
        assert summary.sleep is not None
        assert summary.sleep.day == summary.day
        assert not summary.sleep.nap
        assert summary.activity is not None
        assert summary.activity.steps is not None
        assert summary.vitals is not None
        assert summary.vitals.resting_heart_rate_bpm is not None


async def test_activity_comes_from_the_rollup_not_the_sum_of_both_sources(
    fitbit: FitbitProvider, google: FitbitSandbox
) -> None:
    day = TODAY - timedelta(days=2)
    window = DayRange(first=day, last=day).query_window()
    records = await fitbit.read({DataKind.ACTIVITY}, window)
    [activity] = [a for a in records.activities if a.day == day]
    merged = [
        p
        async for p in fitbit.client.reconcile(
            "steps",
            filter=f'steps.interval.civil_start_time >= "{day}" '
            f'AND steps.interval.civil_start_time < "{day + timedelta(days=1)}"',
        )
    ]
    assert activity.steps == sum(p.steps.count for p in merged if p.steps is not None)
    assert activity.steps is not None
    assert steps_of_list(google, day) > activity.steps  # the phone's hours counted twice


async def test_the_newest_night_is_pending_without_nightly_vitals(fitbit: FitbitProvider) -> None:
    records = await fitbit.read(ALL, DayRange(first=TODAY, last=TODAY).query_window())
    [night] = [s for s in records.sleeps if s.day == TODAY and not s.nap]
    assert night.score_state is ScoreState.PENDING
    assert night.score is None
    [vitals] = [v for v in records.vitals if v.day == TODAY]
    assert vitals.hrv_rmssd_ms is None
    assert vitals.spo2_pct is None


async def test_days_in_a_drawer_have_no_activity_at_all(fitbit: FitbitProvider) -> None:
    empty = [TODAY - timedelta(days=26), TODAY - timedelta(days=25)]
    days = DayRange(first=empty[0] - timedelta(days=1), last=empty[1] + timedelta(days=1))
    summaries = {s.day: s for s in await read_days(fitbit, days)}
    for day in empty:
        assert summaries[day].activity is None
    assert summaries[days.first].activity is not None


async def test_the_travel_week_keeps_each_night_at_its_own_offset(fitbit: FitbitProvider) -> None:
    days = DayRange(first=TODAY - timedelta(days=71), last=TODAY - timedelta(days=59))
    summaries = await read_days(fitbit, days)
    offsets = {s.sleep.end.utcoffset() for s in summaries if s.sleep is not None}
    assert len(offsets) >= 2  # Panama and Lagos
    nights = [s.sleep.source_id for s in summaries if s.sleep is not None]
    assert len(nights) == len(set(nights))


async def test_a_missing_scope_drops_that_data_with_a_note(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    tokens = tokens_for(google, clock, frozenset({ACTIVITY_SCOPE, PROFILE_SCOPE, SETTINGS_SCOPE}))
    window = DayRange.ending(TODAY, days=3).query_window()
    async with connect(google, clock, tokens=tokens) as provider:
        records = await provider.read(ALL, window)
        assert records.sleeps == ()
        assert records.activities
        assert records.workouts
        assert records.vitals  # VO2 max is an activity type
        assert all(v.resting_heart_rate_bpm is None for v in records.vitals)
        assert len(records.notes) == 2
        assert any(SLEEP_SCOPE in note for note in records.notes)
        assert any(HEALTH_METRICS_SCOPE in note for note in records.notes)
        with pytest.raises(ScopeNotGranted) as caught:
            await provider.read({DataKind.SLEEP}, window)
        assert caught.value.scope == SLEEP_SCOPE


async def test_records_by_id_and_by_date(fitbit: FitbitProvider) -> None:
    window = DayRange.ending(TODAY - timedelta(days=1), days=3).query_window()
    records = await fitbit.read(ALL, window)
    sleep, workout = records.sleeps[1], records.workouts[0]
    assert await fitbit.record(DataKind.SLEEP, sleep.source_id) == sleep
    assert await fitbit.record(DataKind.WORKOUT, workout.source_id) == workout
    activity = records.activities[1]
    assert await fitbit.record(DataKind.ACTIVITY, activity.day.isoformat()) == activity
    with pytest.raises(NotFound):
        await fitbit.record(DataKind.SLEEP, "00000000")
    with pytest.raises(NotFound):
        await fitbit.record(DataKind.SLEEP, "../identity")
    with pytest.raises(NotFound):
        await fitbit.record(DataKind.VITALS, "yesterday")
    with pytest.raises(UnsupportedDataKind):
        await fitbit.record(DataKind.RECOVERY, "1")
    with pytest.raises(UnsupportedDataKind):
        await fitbit.read({DataKind.CYCLE}, window)


async def test_profile_and_body_measurement(fitbit: FitbitProvider, google: FitbitSandbox) -> None:
    member = google.member()
    profile = await fitbit.profile()
    assert profile.source_id == member.user_id
    assert profile.age == member.spec.age
    assert profile.display_name == f"account {member.user_id}"
    body = await fitbit.body_measurement()
    assert body.height_m == member.spec.height_mm / 1000
    assert body.weight_kg is not None


async def test_the_profile_without_its_scope_has_no_age(
    google: FitbitSandbox, clock: FakeClock
) -> None:
    tokens = tokens_for(google, clock, frozenset({SLEEP_SCOPE}))
    async with connect(google, clock, tokens=tokens) as provider:
        profile = await provider.profile()
    assert profile.source_id == google.member().user_id
    assert profile.age is None


async def test_revoking_kills_the_grant(google: FitbitSandbox, clock: FakeClock) -> None:
    tokens = tokens_for(google, clock)
    async with connect(google, clock, tokens=tokens) as provider:
        await provider.revoke()
        with pytest.raises(ReauthorizationRequired):
            await provider.profile()
    assert google.requests[0].path == "/revoke"
