from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from wellpipe.core import (
    Cycle,
    DayRange,
    Recovery,
    ScoreState,
    Sleep,
    Workout,
    summarize_days,
)

TZ = timezone(timedelta(hours=-5))
D = date(2026, 11, 20)


def at(day: date, hour: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(hours=hour)


def sleep(sid: str, day: date, start: datetime, end: datetime, *, nap: bool = False) -> Sleep:
    return Sleep(
        provider="t",
        source_id=sid,
        day=day,
        start=start,
        end=end,
        nap=nap,
        score_state=ScoreState.PENDING,
        score=None,
    )


def cycle(cid: str, day: date, start: datetime, end: datetime | None) -> Cycle:
    return Cycle(
        provider="t",
        source_id=cid,
        day=day,
        start=start,
        end=end,
        score_state=ScoreState.PENDING,
        score=None,
    )


def recovery(cid: str, sid: str, day: date, start: datetime, end: datetime) -> Recovery:
    return Recovery(
        provider="t",
        source_id=cid,
        day=day,
        start=start,
        end=end,
        sleep_source_id=sid,
        cycle_source_id=cid,
        score_state=ScoreState.PENDING,
        score=None,
    )


def workout(wid: str, day: date, start: datetime) -> Workout:
    return Workout(
        provider="t",
        source_id=wid,
        day=day,
        start=start,
        end=start + timedelta(hours=1),
        sport="running",
        score_state=ScoreState.PENDING,
        score=None,
    )


def test_every_day_of_the_range_is_present_even_without_data() -> None:
    summaries = summarize_days([], DayRange(first=D, last=D + timedelta(days=2)))
    assert [s.day for s in summaries] == [D, D + timedelta(days=1), D + timedelta(days=2)]
    assert all(s.is_empty for s in summaries)


def test_a_day_joins_its_sleep_naps_recovery_cycle_and_workouts() -> None:
    main = sleep("main", D, at(D, -1), at(D, 7))
    nap = sleep("nap", D, at(D, 14), at(D, 14.5), nap=True)
    the_cycle = cycle("c1", D, at(D, -1), at(D, 23))
    the_recovery = recovery("c1", "main", D, at(D, -1), at(D, 7))
    late = workout("w2", D, at(D, 18))
    early = workout("w1", D, at(D, 8))
    [summary] = summarize_days(
        [late, nap, the_recovery, main, the_cycle, early], DayRange(first=D, last=D)
    )
    assert summary.sleep is main
    assert summary.naps == (nap,)
    assert summary.cycle is the_cycle
    assert summary.recovery is the_recovery
    assert summary.workouts == (early, late)
    assert summary.other_records == ()


def test_a_second_main_sleep_on_one_day_is_kept_not_dropped() -> None:
    long_night = sleep("long", D, at(D, -1), at(D, 7))
    short_night = sleep("short", D, at(D, 16), at(D, 20))  # after a long-haul flight
    [summary] = summarize_days([short_night, long_night], DayRange(first=D, last=D))
    assert summary.sleep is long_night
    assert summary.other_records == (short_night,)


def test_the_days_cycle_is_the_one_that_begins_with_its_main_sleep() -> None:
    main = sleep("main", D, at(D, -1), at(D, 7))
    short = cycle("c0", D, at(D, -8), at(D, -1))
    own = cycle("c1", D, at(D, -1), None)
    [summary] = summarize_days([own, short, main], DayRange(first=D, last=D))
    assert summary.cycle is own
    assert summary.other_records == (short,)


def test_records_outside_the_range_are_ignored() -> None:
    outside = workout("w", D - timedelta(days=1), at(D, -10))
    [summary] = summarize_days([outside], DayRange(first=D, last=D))
    assert summary.is_empty
