from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import NOW
from wellpipe.core import (
    DataKind,
    DayRange,
    ScoreState,
    TimeWindow,
    UnknownProviderError,
    UnsupportedDataKind,
    read_days,
)
from wellpipe.providers import available_providers, get_provider_info
from wellpipe.providers.whoop import INFO, WhoopProvider
from wellpipe.sandbox import Fault, WhoopSandbox

TODAY = date(2026, 11, 21)


async def test_a_day_summary_joins_sleep_recovery_strain_and_workouts(whoop: WhoopProvider) -> None:
    [day] = await read_days(
        whoop, DayRange(first=TODAY - timedelta(days=1), last=TODAY - timedelta(days=1))
    )
    assert day.sleep is not None
    assert day.sleep.day == day.day
    assert day.recovery is not None
    assert day.recovery.sleep_source_id == day.sleep.source_id
    assert day.cycle is not None
    assert day.cycle.start == day.sleep.start
    assert day.recovery.cycle_source_id == day.cycle.source_id
    assert all(w.day == day.day for w in day.workouts)


async def test_today_has_the_open_cycle_and_this_mornings_recovery(whoop: WhoopProvider) -> None:
    [today] = await read_days(whoop, DayRange(first=TODAY, last=TODAY))
    assert today.cycle is not None
    assert today.cycle.in_progress
    assert today.cycle.score_state is ScoreState.PENDING
    assert today.recovery is not None


async def test_a_week_of_days_has_one_summary_per_day_without_strays(whoop: WhoopProvider) -> None:
    days = DayRange.ending(TODAY, days=7)
    summaries = await read_days(whoop, days)
    assert [s.day for s in summaries] == days.days()
    assert all(s.sleep is not None and s.cycle is not None for s in summaries)
    assert all(s.other_records == () for s in summaries)


async def test_the_travel_week_keeps_one_cycle_per_local_day(whoop: WhoopProvider) -> None:
    # Alex flew from -05:00 to +01:00 between 68 and 62 days ago.
    days = DayRange(first=TODAY - timedelta(days=70), last=TODAY - timedelta(days=60))
    summaries = await read_days(whoop, days)
    assert all(s.cycle is not None for s in summaries)
    assert {s.cycle.start.utcoffset() for s in summaries if s.cycle} == {
        timedelta(hours=-5),
        timedelta(hours=1),
    }
    cycle_ids = [s.cycle.source_id for s in summaries if s.cycle]
    assert len(cycle_ids) == len(set(cycle_ids))


async def test_the_unscorable_day_is_explicit_not_zero(whoop: WhoopProvider) -> None:
    [day] = await read_days(
        whoop, DayRange(first=TODAY - timedelta(days=40), last=TODAY - timedelta(days=40))
    )
    assert day.cycle is not None
    assert day.cycle.score_state is ScoreState.UNSCORABLE
    assert day.cycle.score is None
    assert day.sleep is not None
    assert day.sleep.score is None
    assert day.recovery is not None
    assert day.recovery.score_state is ScoreState.UNSCORABLE


async def test_read_fetches_only_what_is_asked(whoop: WhoopProvider, sandbox: WhoopSandbox) -> None:
    window = TimeWindow(start=NOW - timedelta(days=3), end=NOW)
    records = await whoop.read({DataKind.WORKOUT}, window)
    assert records.workouts
    assert not records.sleeps
    assert not records.cycles
    assert {r.path for r in sandbox.requests} == {"/developer/v2/activity/workout"}


@pytest.mark.parametrize("kind", [DataKind.PROFILE, DataKind.READINESS, DataKind.ACTIVITY])
async def test_read_refuses_kinds_whoop_does_not_list(whoop: WhoopProvider, kind: DataKind) -> None:
    with pytest.raises(UnsupportedDataKind, match=f"WHOOP does not provide {kind.value} data"):
        await whoop.read({kind}, TimeWindow(start=NOW - timedelta(days=1), end=NOW))


def _empty_page(body: Any) -> Any:
    return {"records": []}


async def test_a_recovery_whose_sleep_did_not_come_back_fetches_that_sleep(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    sandbox.inject(Fault(path_prefix="/developer/v2/activity/sleep", mutate=_empty_page))
    window = TimeWindow(start=NOW - timedelta(hours=20), end=NOW)
    records = await whoop.read({DataKind.RECOVERY}, window)
    [recovery] = records.recoveries
    by_id = [r.path for r in sandbox.requests if r.path.startswith("/developer/v2/activity/sleep/")]
    assert by_id == [f"/developer/v2/activity/sleep/{recovery.sleep_source_id}"]
    assert recovery.day == TODAY
    assert recovery.end is not None


async def test_a_recovery_whose_sleep_is_gone_is_placed_by_its_cycle(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    sandbox.inject(Fault(path_prefix="/developer/v2/activity/sleep", mutate=_empty_page))
    sandbox.inject(Fault(path_prefix="/developer/v2/activity/sleep/", status=404))
    window = TimeWindow(start=NOW - timedelta(hours=20), end=NOW)
    [recovery] = (await whoop.read({DataKind.RECOVERY}, window)).recoveries
    assert recovery.day == TODAY
    assert recovery.end is None
    assert any(r.path.startswith("/developer/v2/cycle/") for r in sandbox.requests)


def test_whoop_is_registered_through_its_entry_point() -> None:
    assert "whoop" in available_providers()
    assert get_provider_info("whoop") is INFO
    assert INFO.kinds == frozenset(DataKind) - {
        DataKind.READINESS,
        DataKind.ACTIVITY,
        DataKind.VITALS,
    }
    assert INFO.token_auth_method == "client_secret_post"


def test_providers_can_be_limited_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELLPIPE_PROVIDERS", "oura, garmin")
    assert available_providers() == ["oura"]
    with pytest.raises(UnknownProviderError):
        get_provider_info("whoop")


def test_an_unknown_provider_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        get_provider_info("garmin")
    assert caught.value.installed == ["fitbit", "oura", "whoop"]
    assert "installed: fitbit, oura, whoop" in str(caught.value)
