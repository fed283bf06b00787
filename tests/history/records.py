"""Records of every kind for history store tests: one person's days, made up."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from wellpipe.core.models import (
    Cycle,
    CycleScore,
    DailyActivity,
    DailyVitals,
    Readiness,
    Record,
    Recovery,
    RecoveryScore,
    ScoreState,
    Sleep,
    SleepScore,
    Workout,
    WorkoutScore,
)

EST = timezone(timedelta(hours=-5))


def sleep(
    day: date,
    source_id: str | None = None,
    *,
    provider: str = "whoop",
    state: ScoreState = ScoreState.SCORED,
    asleep_min: float = 440,
) -> Sleep:
    start = datetime(day.year, day.month, day.day, 7, tzinfo=EST) - timedelta(hours=8)
    return Sleep(
        provider=provider,
        source_id=source_id or f"sleep-{day.isoformat()}",
        day=day,
        start=start,
        end=start + timedelta(hours=8),
        nap=False,
        score_state=state,
        score=SleepScore(
            in_bed_duration_min=480,
            asleep_duration_min=asleep_min,
            awake_duration_min=480 - asleep_min,
            sleep_performance_pct=91,
        )
        if state is ScoreState.SCORED
        else None,
    )


def recovery(
    day: date, *, provider: str = "whoop", state: ScoreState = ScoreState.SCORED
) -> Recovery:
    start = datetime(day.year, day.month, day.day, 7, tzinfo=EST) - timedelta(hours=8)
    return Recovery(
        provider=provider,
        source_id=f"recovery-{day.isoformat()}",
        day=day,
        start=start,
        end=start + timedelta(hours=8),
        sleep_source_id=f"sleep-{day.isoformat()}",
        score_state=state,
        score=RecoveryScore(
            recovery_score_pct=64, resting_heart_rate_bpm=52, hrv_rmssd_ms=71.5, calibrating=False
        )
        if state is ScoreState.SCORED
        else None,
    )


def workout(day: date, number: int = 1, *, provider: str = "whoop") -> Workout:
    start = datetime(day.year, day.month, day.day, 18, tzinfo=EST)
    return Workout(
        provider=provider,
        source_id=f"workout-{day.isoformat()}-{number}",
        day=day,
        start=start,
        end=start + timedelta(minutes=45),
        sport="running",
        score_state=ScoreState.SCORED,
        score=WorkoutScore(strain=12.5, energy_kcal=480, avg_heart_rate_bpm=148),
    )


def cycle(day: date, *, provider: str = "whoop", open_: bool = False) -> Cycle:
    start = datetime(day.year, day.month, day.day, 7, tzinfo=EST)
    return Cycle(
        provider=provider,
        source_id=f"cycle-{day.isoformat()}",
        day=day,
        start=start,
        end=None if open_ else start + timedelta(hours=24),
        score_state=ScoreState.PENDING if open_ else ScoreState.SCORED,
        score=None
        if open_
        else CycleScore(
            strain=14.2, energy_kcal=2400, avg_heart_rate_bpm=70, max_heart_rate_bpm=171
        ),
    )


def readiness(day: date, *, provider: str = "oura", scored: bool = True) -> Readiness:
    return Readiness(
        provider=provider,
        source_id=f"readiness-{day.isoformat()}",
        day=day,
        score_pct=82 if scored else None,
        contributors={"hrv_balance": 77},
    )


def activity(day: date, *, provider: str = "oura") -> DailyActivity:
    return DailyActivity(
        provider=provider, source_id=f"activity-{day.isoformat()}", day=day, steps=9120
    )


def vitals(day: date, *, provider: str = "fitbit") -> DailyVitals:
    return DailyVitals(
        provider=provider,
        source_id=f"vitals-{day.isoformat()}",
        day=day,
        resting_heart_rate_bpm=53,
        hrv_rmssd_ms=60.2,
    )


def whoop_year(last: date, days: int = 365) -> list[Record]:
    """A year of WHOOP: a sleep, a recovery, a cycle each day, a workout most days (~1,700)."""
    found: list[Record] = []
    for back in range(days):
        day = last - timedelta(days=back)
        found += [sleep(day), recovery(day), cycle(day)]
        if back % 4:
            found.append(workout(day))
    return found
