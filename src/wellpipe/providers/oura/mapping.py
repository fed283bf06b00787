"""Pure functions from Oura wire models to Wellpipe's core models.

Days: every Oura document carries ``day``, the member's local date as Oura
assigns it, and that is the record's ``day`` unchanged (a night belongs to the
day the member woke up on; a late nap after 6 pm to the next day). Times keep
the UTC offset Oura wrote, so ``start.isoformat()`` reads as local time, and a
night on a trip keeps the offset of where it was slept.

Sleep periods:

* ``rest`` (detected but rejected by the member) and ``deleted`` periods are not
  sleeps and are dropped;
* ``long_sleep`` is the night; ``sleep`` and ``late_nap`` are naps (a period
  without a type counts as a nap when it lasted under 3 hours in bed);
* a period is scored when Oura measured its ``total_sleep_duration``, else it
  is ``UNSCORABLE`` (Oura does not say "pending"); a night whose ``daily_sleep``
  came with a null score (a low-battery night, say) is ``UNSCORABLE`` too, not a
  scored night with its scores missing;
* seconds become minutes; ``average_breath`` is the respiratory rate;
* the stage timeline comes from ``sleep_phase_5_min`` (1 deep, 2 light, 3 REM,
  4 awake), one slot per 5 minutes from ``bedtime_start``, runs of one stage merged;
* Oura's 0-100 sleep score is the day's ``daily_sleep`` score and goes on the
  night only (the longest ``long_sleep`` of that day), never on a nap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Final

from pydantic import JsonValue

from wellpipe.core.models import (
    BodyMeasurement,
    DailyActivity,
    DailyVitals,
    Profile,
    Readiness,
    ScoreState,
    Sleep,
    SleepScore,
    SleepStage,
    StageSegment,
    Workout,
    WorkoutScore,
)
from wellpipe.providers.oura import schemas as wire

__all__ = [
    "NOT_SLEEP",
    "activity_to_core",
    "body_measurement_to_core",
    "is_sleep",
    "main_sleeps",
    "profile_to_core",
    "readiness_to_core",
    "sleep_to_core",
    "sleeps_to_core",
    "stages_from_5_min",
    "vitals_by_day",
    "vitals_day",
    "vitals_id",
    "workout_to_core",
]

PROVIDER: Final = "oura"
NOT_SLEEP: Final = frozenset({wire.SleepType.REST, wire.SleepType.DELETED})
"""Period types that are not sleeps: rejected by the member, or deleted."""

_SLOT: Final = timedelta(minutes=5)
_NAP_LIMIT_S: Final = 3 * 60 * 60
_PHASES: Final = {
    "1": SleepStage.DEEP,
    "2": SleepStage.LIGHT,
    "3": SleepStage.REM,
    "4": SleepStage.AWAKE,
}


def _minutes(seconds: int | None) -> float | None:
    return seconds / 60 if seconds is not None else None


def _positive(value: float | None) -> float | None:
    """A measure Oura may leave at zero when unknown: zero or less is absent."""
    return value if value is not None and value > 0 else None


# ------------------------------------------------------------------ sleep
def is_sleep(period: wire.PublicModifiedSleepModel) -> bool:
    """Whether a period is a sleep at all (not a rejected rest, not deleted)."""
    return period.type not in NOT_SLEEP


def _is_nap(period: wire.PublicModifiedSleepModel) -> bool:
    if period.type is None:
        return period.time_in_bed < _NAP_LIMIT_S
    return period.type is not wire.SleepType.LONG_SLEEP


def _in_bed_s(period: wire.PublicModifiedSleepModel) -> float:
    return (period.bedtime_end - period.bedtime_start).total_seconds()


def main_sleeps(
    periods: Iterable[wire.PublicModifiedSleepModel],
) -> dict[date, wire.PublicModifiedSleepModel]:
    """Each day's night: its longest ``long_sleep`` period, by day."""
    mains: dict[date, wire.PublicModifiedSleepModel] = {}
    for period in periods:
        if period.type is not wire.SleepType.LONG_SLEEP:
            continue
        current = mains.get(period.day)
        if current is None or _in_bed_s(period) > _in_bed_s(current):
            mains[period.day] = period
    return mains


def stages_from_5_min(phases: str, start: datetime, end: datetime) -> tuple[StageSegment, ...]:
    """A stage timeline from Oura's 5-minute phase string.

    Slot ``i`` covers ``start + 5 min * i`` to 5 minutes later, cut at ``end``;
    runs of the same digit become one segment. A digit Oura does not define
    leaves a gap.
    """
    segments: list[StageSegment] = []
    run_stage: SleepStage | None = None
    run_start = start
    for index, digit in enumerate([*phases, ""]):
        slot_start = start + _SLOT * index
        stage = _PHASES.get(digit)
        if stage is run_stage:
            continue
        if run_stage is not None:
            run_end = min(slot_start, end)
            if run_end > run_start:
                segments.append(StageSegment(stage=run_stage, start=run_start, end=run_end))
        run_stage, run_start = stage, slot_start
    return tuple(segments)


def sleep_to_core(
    period: wire.PublicModifiedSleepModel,
    *,
    sleep_score: int | None = None,
    unscored: bool = False,
) -> Sleep:
    """An Oura sleep period (night or nap).

    Args:
        period: The period; it must be a sleep (`is_sleep`).
        sleep_score: The day's ``daily_sleep`` score, for the night only.
        unscored: Oura scored the day's sleep as nothing (its ``daily_sleep`` score is
            null): the night is `ScoreState.UNSCORABLE` whatever it measured.

    Raises:
        ValueError: the period is a rejected rest or deleted.
    """
    if not is_sleep(period):
        raise ValueError(f"an Oura {period.type} period is not a sleep")
    start, end = period.bedtime_start, period.bedtime_end
    score = None
    if period.total_sleep_duration is not None and not unscored:
        score = SleepScore(
            in_bed_duration_min=period.time_in_bed / 60,
            asleep_duration_min=period.total_sleep_duration / 60,
            awake_duration_min=_minutes(period.awake_time),
            light_sleep_duration_min=_minutes(period.light_sleep_duration),
            deep_sleep_duration_min=_minutes(period.deep_sleep_duration),
            rem_sleep_duration_min=_minutes(period.rem_sleep_duration),
            disturbance_count=period.restless_periods,
            latency_min=_minutes(period.latency),
            sleep_score_pct=sleep_score,
            sleep_efficiency_pct=period.efficiency,
            respiratory_rate_per_min=period.average_breath,
            avg_heart_rate_bpm=period.average_heart_rate,
            lowest_heart_rate_bpm=period.lowest_heart_rate,
            avg_hrv_rmssd_ms=period.average_hrv,
        )
    extras: dict[str, JsonValue] = {"period": period.period}
    if period.type is not None:
        extras["type"] = period.type.value
    if period.low_battery_alert:
        extras["low_battery_alert"] = True
    return Sleep(
        provider=PROVIDER,
        source_id=period.id,
        day=period.day,
        start=start,
        end=end,
        nap=_is_nap(period),
        score_state=ScoreState.SCORED if score is not None else ScoreState.UNSCORABLE,
        score=score,
        stages=stages_from_5_min(period.sleep_phase_5_min, start, end)
        if period.sleep_phase_5_min
        else (),
        extras=extras,
    )


def sleeps_to_core(
    periods: Sequence[wire.PublicModifiedSleepModel],
    daily_sleeps: Iterable[wire.PublicDailySleep] = (),
) -> tuple[Sleep, ...]:
    """Every sleep among ``periods`` (rests and deleted periods dropped), in Oura's order.

    Each day's ``daily_sleep`` score goes on that day's night (`main_sleeps`); a night
    whose ``daily_sleep`` has a null score is unscorable.
    """
    scores = {daily.day: daily.score for daily in daily_sleeps}
    nights = {period.id for period in main_sleeps(p for p in periods if is_sleep(p)).values()}
    return tuple(
        sleep_to_core(
            p,
            sleep_score=scores.get(p.day) if p.id in nights else None,
            unscored=p.id in nights and p.day in scores and scores[p.day] is None,
        )
        for p in periods
        if is_sleep(p)
    )


# ------------------------------------------------------------------ daily documents
def readiness_to_core(readiness: wire.PublicDailyReadiness) -> Readiness:
    """An Oura daily readiness. Contributors Oura left empty are absent."""
    contributors = {
        name: value
        for name, value in readiness.contributors.model_dump().items()
        if value is not None
    }
    return Readiness(
        provider=PROVIDER,
        source_id=readiness.id,
        day=readiness.day,
        score_pct=readiness.score,
        contributors=contributors,
        temperature_deviation_celsius=readiness.temperature_deviation,
        temperature_trend_deviation_celsius=readiness.temperature_trend_deviation,
    )


def activity_to_core(activity: wire.PublicDailyActivity) -> DailyActivity:
    """An Oura daily activity.

    ``distance_m`` is Oura's ``equivalent_walking_distance``: the walk that
    would burn the day's active energy, not a distance measured by GPS.
    """
    contributors: dict[str, JsonValue] = {
        name: value
        for name, value in activity.contributors.model_dump().items()
        if value is not None
    }
    return DailyActivity(
        provider=PROVIDER,
        source_id=activity.id,
        day=activity.day,
        steps=activity.steps,
        distance_m=activity.equivalent_walking_distance,
        active_energy_kcal=activity.active_calories,
        total_energy_kcal=activity.total_calories,
        high_activity_min=activity.high_activity_time / 60,
        medium_activity_min=activity.medium_activity_time / 60,
        low_activity_min=activity.low_activity_time / 60,
        sedentary_min=activity.sedentary_time / 60,
        activity_score_pct=activity.score,
        extras={"contributors": contributors} if contributors else {},
    )


def vitals_by_day(
    *,
    spo2: Iterable[wire.PublicDailySpO2] = (),
    stress: Iterable[wire.PublicDailyStress] = (),
    vo2_max: Iterable[wire.PublicVO2Max] = (),
    readiness: Iterable[wire.PublicDailyReadiness] = (),
    sleeps: Iterable[wire.PublicModifiedSleepModel] = (),
) -> tuple[DailyVitals, ...]:
    """One `DailyVitals` per local day, merged from five Oura routes, oldest day first.

    * ``spo2_pct`` and ``breathing_disturbance_index`` from ``daily_spo2``;
    * ``stress_high_min`` and ``recovery_high_min`` from ``daily_stress`` (seconds → minutes);
    * ``vo2_max_ml_kg_min`` from ``vO2_max``;
    * ``skin_temp_deviation_celsius`` from ``daily_readiness.temperature_deviation``;
    * ``resting_heart_rate_bpm``, ``hrv_rmssd_ms`` and ``respiratory_rate_per_min``
      from the day's night (its longest ``long_sleep`` period): its
      ``lowest_heart_rate`` (Oura's app shows the night's lowest heart rate as the
      resting heart rate), ``average_hrv`` and ``average_breath``. Naps never count.

    A value a route did not give stays absent (a day without SpO2 has
    ``spo2_pct=None``); a day with no value at all has no record. Where a route
    lists a day twice, the later document wins. The record's ``source_id`` is
    the day (``vitals-YYYY-MM-DD``), since it merges several Oura documents.
    """
    values: dict[date, dict[str, float | None]] = defaultdict(dict)
    extras: dict[date, dict[str, JsonValue]] = defaultdict(dict)
    for doc in spo2:
        values[doc.day]["spo2_pct"] = (
            doc.spo2_percentage.average if doc.spo2_percentage is not None else None
        )
        values[doc.day]["breathing_disturbance_index"] = doc.breathing_disturbance_index
    for stress_doc in stress:
        values[stress_doc.day]["stress_high_min"] = _minutes(stress_doc.stress_high)
        values[stress_doc.day]["recovery_high_min"] = _minutes(stress_doc.recovery_high)
        if stress_doc.day_summary is not None:
            extras[stress_doc.day]["stress_day_summary"] = stress_doc.day_summary.value
    for estimate in vo2_max:
        values[estimate.day]["vo2_max_ml_kg_min"] = estimate.vo2_max
    for ready in readiness:
        values[ready.day]["skin_temp_deviation_celsius"] = ready.temperature_deviation
    for day, night in main_sleeps(p for p in sleeps if is_sleep(p)).items():
        values[day]["resting_heart_rate_bpm"] = night.lowest_heart_rate
        values[day]["hrv_rmssd_ms"] = night.average_hrv
        values[day]["respiratory_rate_per_min"] = night.average_breath
    records = []
    for day in sorted(values):
        present = {name: value for name, value in values[day].items() if value is not None}
        if not present:
            continue
        records.append(
            DailyVitals.model_validate(
                {
                    "provider": PROVIDER,
                    "source_id": vitals_id(day),
                    "day": day,
                    "extras": extras.get(day, {}),
                    **present,
                }
            )
        )
    return tuple(records)


def vitals_id(day: date) -> str:
    """The ``source_id`` of a day's vitals (they merge several Oura documents)."""
    return f"vitals-{day.isoformat()}"


def vitals_day(source_id: str) -> date | None:
    """The day a vitals ``source_id`` names, or ``None`` if it names none."""
    prefix = "vitals-"
    if not source_id.startswith(prefix):
        return None
    try:
        return date.fromisoformat(source_id[len(prefix) :])
    except ValueError:
        return None


# ------------------------------------------------------------------ workout
def workout_to_core(workout: wire.PublicWorkout) -> Workout:
    """An Oura workout. Oura gives no heart rate for workouts: those fields are absent."""
    extras: dict[str, JsonValue] = {"source": workout.source.value}
    if workout.label is not None:
        extras["label"] = workout.label
    return Workout(
        provider=PROVIDER,
        source_id=workout.id,
        day=workout.day,
        start=workout.start_datetime,
        end=workout.end_datetime,
        sport=workout.activity,
        score_state=ScoreState.SCORED,
        score=WorkoutScore(
            energy_kcal=workout.calories,
            distance_m=workout.distance,
            intensity=workout.intensity.value,
        ),
        extras=extras,
    )


# ------------------------------------------------------------------ user
def profile_to_core(info: wire.PersonalInfo) -> Profile:
    """An Oura member's profile: email, age and biological sex (Oura has no names)."""
    return Profile(
        provider=PROVIDER,
        source_id=info.id,
        email=info.email or None,
        age=info.age,
        biological_sex=info.biological_sex or None,
    )


def body_measurement_to_core(info: wire.PersonalInfo) -> BodyMeasurement:
    """An Oura member's height (metres) and weight (kilograms); zero means unknown."""
    return BodyMeasurement(
        provider=PROVIDER,
        height_m=_positive(info.height),
        weight_kg=_positive(info.weight),
    )
