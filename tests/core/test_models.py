from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from wellpipe.core import (
    Cycle,
    CycleScore,
    DayRange,
    ScoreState,
    Sleep,
    SleepScore,
    TimeWindow,
)

EST = timezone(timedelta(hours=-5))


def _sleep_score() -> SleepScore:
    return SleepScore(
        in_bed_duration_min=480,
        asleep_duration_min=440,
        awake_duration_min=40,
        light_sleep_duration_min=240,
        deep_sleep_duration_min=100,
        rem_sleep_duration_min=100,
        no_data_duration_min=0,
        sleep_cycle_count=5,
        disturbance_count=10,
    )


def _sleep(state: ScoreState, score: SleepScore | None) -> Sleep:
    return Sleep(
        provider="whoop",
        source_id="s1",
        day=date(2026, 11, 21),
        start=datetime(2026, 11, 20, 23, 0, tzinfo=EST),
        end=datetime(2026, 11, 21, 7, 0, tzinfo=EST),
        nap=False,
        score_state=state,
        score=score,
    )


def test_a_scored_record_carries_its_score() -> None:
    sleep = _sleep(ScoreState.SCORED, _sleep_score())
    assert sleep.score is not None
    assert sleep.duration_min == 480


@pytest.mark.parametrize("state", [ScoreState.PENDING, ScoreState.UNSCORABLE])
def test_an_unscored_record_cannot_pretend_to_have_a_score(state: ScoreState) -> None:
    with pytest.raises(ValidationError):
        _sleep(state, _sleep_score())
    assert _sleep(state, None).score is None


def test_a_scored_record_without_its_score_is_rejected() -> None:
    with pytest.raises(ValidationError):
        _sleep(ScoreState.SCORED, None)


def test_an_open_cycle_has_no_duration_and_is_in_progress() -> None:
    cycle = Cycle(
        provider="whoop",
        source_id="1",
        day=date(2026, 11, 21),
        start=datetime(2026, 11, 20, 23, 0, tzinfo=EST),
        end=None,
        score_state=ScoreState.PENDING,
        score=None,
    )
    assert cycle.in_progress
    assert cycle.duration_min is None


def test_a_record_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValidationError):
        Cycle(
            provider="whoop",
            source_id="1",
            day=date(2026, 11, 21),
            start=datetime(2026, 11, 21, 7, 0, tzinfo=EST),
            end=datetime(2026, 11, 21, 6, 0, tzinfo=EST),
            score_state=ScoreState.SCORED,
            score=CycleScore(
                strain=5, energy_kcal=2000, avg_heart_rate_bpm=60, max_heart_rate_bpm=150
            ),
        )


def test_records_need_aware_times() -> None:
    fields = _sleep(ScoreState.PENDING, None).model_dump()
    fields["start"] = datetime(2026, 11, 20, 23, 0)
    with pytest.raises(ValidationError):
        Sleep.model_validate(fields)


def test_a_time_window_is_half_open_and_ordered() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    window = TimeWindow(start=start, end=start + timedelta(days=1))
    assert window.contains(start)
    assert not window.contains(start + timedelta(days=1))
    with pytest.raises(ValidationError):
        TimeWindow(start=start, end=start)


def test_a_day_range_counts_and_lists_its_days() -> None:
    days = DayRange.ending(date(2026, 11, 21), days=7)
    assert days.first == date(2026, 11, 15)
    assert days.count == 7
    assert days.days()[0] == date(2026, 11, 15)
    assert days.days()[-1] == date(2026, 11, 21)
    assert days.includes(date(2026, 11, 18))
    assert not days.includes(date(2026, 11, 22))


def test_last_days_uses_the_given_timezone_for_today() -> None:
    now = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # still the 20th in New York
    assert DayRange.last_days(1, now=now, tz=EST).last == date(2026, 11, 20)
    assert DayRange.last_days(1, now=now, tz=UTC).last == date(2026, 11, 21)


def test_query_window_covers_every_offset_and_the_evening_before() -> None:
    days = DayRange(first=date(2026, 11, 20), last=date(2026, 11, 21))
    window = days.query_window()
    earliest_local_evening = datetime(2026, 11, 19, 12, 0, tzinfo=timezone(timedelta(hours=14)))
    latest_local_night = datetime(2026, 11, 21, 23, 59, tzinfo=timezone(timedelta(hours=-12)))
    assert window.contains(earliest_local_evening)
    assert window.contains(latest_local_night)
