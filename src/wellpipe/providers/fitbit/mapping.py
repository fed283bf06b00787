"""Pure functions from Google Health wire models to Wellpipe's core models.

Days are Google's civil days (the wall clock where the person was):

* a sleep (or nap) belongs to the civil date it **ended** on (Fitbit's
  ``dateOfSleep``), from ``interval.civilEndTime``;
* an exercise belongs to the civil date it **started** on;
* daily types (resting heart rate, HRV, SpO2...) carry their own ``date``;
  roll-ups carry their window's civil start.

Timestamps keep the UTC offset Google recorded with them, so a night spent
crossing time zones starts at one offset and ends at another. Google does not
provide sleep efficiency, a sleep score or readiness: those stay absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timezone
from typing import Final, Protocol

from pydantic import JsonValue

from wellpipe.core.models import (
    BodyMeasurement,
    DailyActivity,
    DailyVitals,
    Profile,
    ScoreState,
    Sleep,
    SleepScore,
    SleepStage,
    StageSegment,
    Workout,
    WorkoutScore,
)
from wellpipe.providers.fitbit import schemas as wire

__all__ = [
    "ACTIVITY_ROLLUP_TYPES",
    "PROVIDER",
    "VITALS_DAILY_TYPES",
    "activities_to_core",
    "body_measurement_to_core",
    "point_id",
    "profile_to_core",
    "sleep_to_core",
    "vitals_to_core",
    "workout_to_core",
]

PROVIDER: Final = "fitbit"

ACTIVITY_ROLLUP_TYPES: Final = (
    "steps",
    "distance",
    "total-calories",
    "active-energy-burned",
    "active-zone-minutes",
)
"""The types whose daily roll-ups make a `DailyActivity` (merged across sources by Google)."""

VITALS_DAILY_TYPES: Final = (
    "daily-resting-heart-rate",
    "daily-heart-rate-variability",
    "daily-oxygen-saturation",
    "daily-respiratory-rate",
    "daily-sleep-temperature-derivations",
    "daily-vo2-max",
)
"""The daily types that make a `DailyVitals` (with the day's ``weight`` samples)."""

_STAGES: Final = {
    "AWAKE": SleepStage.AWAKE,
    "LIGHT": SleepStage.LIGHT,
    "DEEP": SleepStage.DEEP,
    "REM": SleepStage.REM,
    "ASLEEP": SleepStage.ASLEEP,
    "RESTLESS": SleepStage.RESTLESS,
}
_GENERIC_EXERCISES: Final = frozenset({"OTHER", "EXERCISE_TYPE_UNSPECIFIED"})
_RHR_METHODS: Final = {"WITH_SLEEP": False, "ONLY_WITH_AWAKE_DATA": True}
"""``dailyRestingHeartRateMetadata.calculationMethod``: whether only awake data was used."""


class _Named(Protocol):
    @property
    def point_name(self) -> str | None: ...


def point_id(point: _Named, fallback: str) -> str:
    """The id part of a point's resource name (``users/…/dataPoints/{id}``), else ``fallback``."""
    name = point.point_name
    if name and "/dataPoints/" in name:
        return name.rsplit("/", 1)[-1]
    return fallback


def _fallback_id(prefix: str, interval: wire.SessionTimeInterval) -> str:
    return f"{prefix}-{interval.startTime.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _minutes(value: int | None) -> float | None:
    return float(value) if value is not None else None


def _stage_minutes(summary: wire.SleepSummary) -> dict[str, int]:
    totals: dict[str, int] = {}
    for stage in summary.stagesSummary:
        if stage.type is not None and stage.minutes is not None:
            totals[stage.type] = totals.get(stage.type, 0) + stage.minutes
    return totals


def _timeline(stages: Sequence[wire.SleepStage]) -> tuple[StageSegment, ...]:
    segments = [
        StageSegment(
            stage=_STAGES[stage.type],
            start=stage.startTime.astimezone(timezone(stage.startUtcOffset)),
            end=stage.endTime.astimezone(timezone(stage.endUtcOffset)),
        )
        for stage in stages
        if stage.type in _STAGES and stage.endTime > stage.startTime
    ]
    return tuple(sorted(segments, key=lambda s: s.start))


def sleep_to_core(point: wire.DataPoint | wire.ReconciledDataPoint) -> Sleep:
    """A Google Health ``sleep`` point (a night or a nap).

    ``processed: false`` (or left out, as proto3 JSON leaves out a false bool)
    means Google is still computing the stages: the sleep is
    `ScoreState.PENDING`, without a score or a timeline. Classic sleeps
    (``type: CLASSIC``) have asleep/restless/awake only, so their light, deep
    and REM minutes stay absent.

    Raises:
        ValueError: the point is not a sleep.
    """
    sleep = point.sleep
    if sleep is None:
        raise ValueError("the data point holds no sleep")
    interval = sleep.interval
    start, end = interval.local_start, interval.local_end
    day = interval.civilEndTime.date.as_date() if interval.civilEndTime else end.date()
    metadata = sleep.metadata or wire.SleepMetadata()
    summary = sleep.summary
    extras: dict[str, JsonValue] = {}
    if sleep.type:
        extras["sleep_type"] = sleep.type
    if metadata.mainSleep is not None:
        extras["main_sleep"] = metadata.mainSleep
    if metadata.stagesStatus:
        extras["stages_status"] = metadata.stagesStatus
    if metadata.manuallyEdited:
        extras["manually_edited"] = True

    # Proto3 JSON leaves out a false bool: metadata without ``processed: true`` is still processing.
    pending = sleep.metadata is not None and not metadata.processed
    score = None
    if (
        not pending
        and summary is not None
        and summary.minutesAsleep is not None
        and summary.minutesInSleepPeriod is not None
    ):
        stages = _stage_minutes(summary)
        staged = sleep.type == "STAGES"
        score = SleepScore(
            in_bed_duration_min=float(summary.minutesInSleepPeriod),
            asleep_duration_min=float(summary.minutesAsleep),
            awake_duration_min=_minutes(summary.minutesAwake),
            light_sleep_duration_min=_minutes(stages.get("LIGHT")) if staged else None,
            deep_sleep_duration_min=_minutes(stages.get("DEEP")) if staged else None,
            rem_sleep_duration_min=_minutes(stages.get("REM")) if staged else None,
            latency_min=_minutes(summary.minutesToFallAsleep),
        )
        if not staged and "RESTLESS" in stages:
            extras["restless_min"] = float(stages["RESTLESS"])
        if summary.minutesAfterWakeUp is not None:
            extras["minutes_after_wake_up"] = float(summary.minutesAfterWakeUp)
    if pending:
        state = ScoreState.PENDING
    elif score is not None:
        state = ScoreState.SCORED
    else:
        state = ScoreState.UNSCORABLE
    return Sleep(
        provider=PROVIDER,
        source_id=point_id(point, _fallback_id("sleep", interval)),
        day=day,
        start=start,
        end=end,
        nap=bool(metadata.nap),
        score_state=state,
        score=score,
        stages=() if pending else _timeline(sleep.stages),
        extras=extras,
        updated_at=sleep.updateTime,
    )


def _sport(exercise: wire.Exercise) -> str:
    if exercise.exerciseType in _GENERIC_EXERCISES and exercise.displayName:
        return exercise.displayName
    return exercise.exerciseType.lower()


def workout_to_core(point: wire.DataPoint | wire.ReconciledDataPoint) -> Workout:
    """A Google Health ``exercise`` point. Distances arrive in millimetres.

    Raises:
        ValueError: the point is not an exercise.
    """
    exercise = point.exercise
    if exercise is None:
        raise ValueError("the data point holds no exercise")
    interval = exercise.interval
    start = interval.local_start
    metrics = exercise.metricsSummary
    extras: dict[str, JsonValue] = {
        "exercise_type": exercise.exerciseType,
        "display_name": exercise.displayName,
    }
    if exercise.activeDuration is not None:
        extras["active_duration_min"] = exercise.activeDuration.total_seconds() / 60
    zones = metrics.heartRateZoneDurations
    if zones is not None:
        for name, span in (
            ("light", zones.lightTime),
            ("moderate", zones.moderateTime),
            ("vigorous", zones.vigorousTime),
            ("peak", zones.peakTime),
        ):
            if span is not None:
                extras[f"heart_rate_zone_{name}_min"] = span.total_seconds() / 60
    if metrics.runVo2Max is not None:
        extras["run_vo2_max"] = metrics.runVo2Max
    score = WorkoutScore(
        energy_kcal=metrics.caloriesKcal,
        avg_heart_rate_bpm=metrics.averageHeartRateBeatsPerMinute,
        distance_m=metrics.distanceMillimeters / 1000
        if metrics.distanceMillimeters is not None
        else None,
        altitude_gain_m=metrics.elevationGainMillimeters / 1000
        if metrics.elevationGainMillimeters is not None
        else None,
        steps=metrics.steps,
        active_zone_min=_minutes(metrics.activeZoneMinutes),
    )
    return Workout(
        provider=PROVIDER,
        source_id=point_id(point, _fallback_id("exercise", interval)),
        day=interval.civilStartTime.date.as_date() if interval.civilStartTime else start.date(),
        start=start,
        end=interval.local_end,
        sport=_sport(exercise),
        score_state=ScoreState.SCORED,
        score=score,
        extras=extras,
        updated_at=exercise.updateTime,
    )


def _sum(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def activities_to_core(rollups: Iterable[wire.DailyRollupDataPoint]) -> list[DailyActivity]:
    """One `DailyActivity` per civil day from daily roll-ups of `ACTIVITY_ROLLUP_TYPES`.

    Pass the roll-ups of every type together; each day's values are joined.
    A day where no roll-up says anything is left out (absent, never zero).
    Newest day first.
    """
    days: dict[date, dict[str, float | int]] = {}
    for point in rollups:
        values = days.setdefault(point.civilStartTime.date.as_date(), {})
        if point.steps is not None and point.steps.countSum is not None:
            values["steps"] = point.steps.countSum
        if point.distance is not None and point.distance.millimetersSum is not None:
            values["distance_m"] = point.distance.millimetersSum / 1000
        if point.totalCalories is not None and point.totalCalories.kcalSum is not None:
            values["total_energy_kcal"] = point.totalCalories.kcalSum
        if point.activeEnergyBurned is not None and point.activeEnergyBurned.kcalSum is not None:
            values["active_energy_kcal"] = point.activeEnergyBurned.kcalSum
        azm = point.activeZoneMinutes
        if azm is not None:
            total = _sum(
                (azm.sumInFatBurnHeartZone, azm.sumInCardioHeartZone, azm.sumInPeakHeartZone)
            )
            if total is not None:
                values["active_zone_min"] = float(total)
    return [
        DailyActivity(
            provider=PROVIDER,
            source_id=day.isoformat(),
            day=day,
            steps=int(values["steps"]) if "steps" in values else None,
            distance_m=values.get("distance_m"),
            total_energy_kcal=values.get("total_energy_kcal"),
            active_energy_kcal=values.get("active_energy_kcal"),
            active_zone_min=values.get("active_zone_min"),
        )
        for day, values in sorted(days.items(), reverse=True)
        if values
    ]


def _weight_day(weight: wire.Weight) -> date:
    civil = weight.sampleTime.civilTime
    return civil.date.as_date() if civil is not None else weight.sampleTime.local.date()


def vitals_to_core(
    points: Iterable[wire.DataPoint | wire.ReconciledDataPoint],
) -> list[DailyVitals]:
    """One `DailyVitals` per date from `VITALS_DAILY_TYPES` points and ``weight`` samples.

    Skin temperature deviation is nightly minus the 30-day baseline (Fitbit's
    "relative" temperature); without a baseline it stays absent. A resting heart
    rate Google computed with awake data only (``ONLY_WITH_AWAKE_DATA``: no sleep
    tracked) says so (``resting_heart_rate_awake_only``). A day's weight is its
    latest weigh-in. Newest day first.
    """
    days: dict[date, dict[str, float | bool]] = {}
    extras: dict[date, dict[str, JsonValue]] = {}
    weighed_at: dict[date, datetime] = {}

    def at(day: date) -> dict[str, float | bool]:
        extras.setdefault(day, {})
        return days.setdefault(day, {})

    for point in points:
        if (rhr := point.dailyRestingHeartRate) is not None:
            day = rhr.date.as_date()
            values = at(day)
            values["resting_heart_rate_bpm"] = float(rhr.beatsPerMinute)
            method = rhr.dailyRestingHeartRateMetadata
            if method is not None and method.calculationMethod in _RHR_METHODS:
                values["resting_heart_rate_awake_only"] = _RHR_METHODS[method.calculationMethod]
            elif method is not None and method.calculationMethod:
                extras[day]["resting_heart_rate_method"] = method.calculationMethod
        elif (hrv := point.dailyHeartRateVariability) is not None:
            day = hrv.date.as_date()
            values = at(day)
            if hrv.averageHeartRateVariabilityMilliseconds is not None:
                values["hrv_rmssd_ms"] = hrv.averageHeartRateVariabilityMilliseconds
            deep = hrv.deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds
            if deep is not None:
                extras[day]["hrv_deep_sleep_rmssd_ms"] = deep
        elif (spo2 := point.dailyOxygenSaturation) is not None:
            at(spo2.date.as_date())["spo2_pct"] = spo2.averagePercentage
        elif (breathing := point.dailyRespiratoryRate) is not None:
            at(breathing.date.as_date())["respiratory_rate_per_min"] = breathing.breathsPerMinute
        elif (temp := point.dailySleepTemperatureDerivations) is not None:
            day = temp.date.as_date()
            values = at(day)
            values["skin_temp_celsius"] = temp.nightlyTemperatureCelsius
            if temp.baselineTemperatureCelsius is not None:
                values["skin_temp_deviation_celsius"] = round(
                    temp.nightlyTemperatureCelsius - temp.baselineTemperatureCelsius, 3
                )
                extras[day]["skin_temp_baseline_celsius"] = temp.baselineTemperatureCelsius
        elif (vo2 := point.dailyVo2Max) is not None:
            day = vo2.date.as_date()
            at(day)["vo2_max_ml_kg_min"] = vo2.vo2Max
            if vo2.cardioFitnessLevel:
                extras[day]["cardio_fitness_level"] = vo2.cardioFitnessLevel
        elif (weight := point.weight) is not None:
            day = _weight_day(weight)
            when = weight.sampleTime.physicalTime
            if day not in weighed_at or when >= weighed_at[day]:
                weighed_at[day] = when
                at(day)["weight_kg"] = round(weight.weightGrams / 1000, 4)
    return [
        DailyVitals.model_validate(
            {
                "provider": PROVIDER,
                "source_id": day.isoformat(),
                "day": day,
                "extras": extras.get(day, {}),
                **values,
            }
        )
        for day, values in sorted(days.items(), reverse=True)
        if values
    ]


def profile_to_core(identity: wire.Identity, profile: wire.Profile | None) -> Profile:
    """The Google Health user: their ``healthUserId`` and, with the profile scope, their age.

    Google Health knows no name and no email.
    """
    return Profile(
        provider=PROVIDER,
        source_id=identity.healthUserId,
        age=profile.age if profile is not None else None,
    )


def body_measurement_to_core(
    weight: wire.Weight | None, height: wire.Height | None
) -> BodyMeasurement:
    """The latest weigh-in and height (grams and millimetres on the wire)."""
    return BodyMeasurement(
        provider=PROVIDER,
        weight_kg=round(weight.weightGrams / 1000, 4) if weight is not None else None,
        height_m=height.heightMillimeters / 1000 if height is not None else None,
    )
