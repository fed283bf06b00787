"""Pure functions from WHOOP wire models to Wellpipe's core models.

Days come from each record's own ``timezone_offset``:

* a sleep (or nap) belongs to the local day it ended on: the day you woke up;
* a workout belongs to the local day it started on, even if it ran past midnight;
* a cycle runs from one sleep onset to the next, so it belongs to the day its
  main sleep ended on; without that sleep, to the local day 12 hours after the
  cycle began (an onset between noon and noon maps to the following day);
* a recovery is measured over a sleep and belongs to that sleep's day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

from pydantic import JsonValue

from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    CycleScore,
    HeartRateZones,
    Profile,
    Recovery,
    RecoveryScore,
    ScoreState,
    Sleep,
    SleepScore,
    Workout,
    WorkoutScore,
)
from wellpipe.providers.whoop import schemas as wire

__all__ = [
    "KILOJOULES_PER_KILOCALORIE",
    "body_measurement_to_core",
    "cycle_to_core",
    "main_sleep_by_cycle",
    "parse_offset",
    "profile_to_core",
    "recovery_to_core",
    "sleep_to_core",
    "workout_to_core",
]

PROVIDER: Final = "whoop"
KILOJOULES_PER_KILOCALORIE: Final = 4.184
_MS_PER_MIN: Final = 60_000

_STATES: Final = {
    wire.ScoreState.SCORED: ScoreState.SCORED,
    wire.ScoreState.PENDING_SCORE: ScoreState.PENDING,
    wire.ScoreState.UNSCORABLE: ScoreState.UNSCORABLE,
}


def parse_offset(tzd: str) -> timezone:
    """A W3C Time Zone Designator (``+hh:mm``, ``-hh:mm`` or ``Z``) as a fixed offset."""
    if tzd == "Z":
        return UTC
    sign = -1 if tzd[0] == "-" else 1
    hours, minutes = int(tzd[1:3]), int(tzd[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _local(instant: datetime, tzd: str) -> datetime:
    return instant.astimezone(parse_offset(tzd))


def _minutes(milliseconds: int) -> float:
    return milliseconds / _MS_PER_MIN


def _kcal(kilojoules: float) -> float:
    return kilojoules / KILOJOULES_PER_KILOCALORIE


def _state(state: wire.ScoreState) -> ScoreState:
    return _STATES[state]


def sleep_to_core(sleep: wire.Sleep) -> Sleep:
    """A WHOOP sleep (or nap)."""
    start = _local(sleep.start, sleep.timezone_offset)
    end = _local(sleep.end, sleep.timezone_offset)
    extras: dict[str, JsonValue] = {"cycle_id": sleep.cycle_id}
    if sleep.v1_id is not None:
        extras["v1_id"] = sleep.v1_id
    score = None
    if sleep.score_state is wire.ScoreState.SCORED and sleep.score is not None:
        stages = sleep.score.stage_summary
        need = sleep.score.sleep_needed
        asleep = (
            stages.total_light_sleep_time_milli
            + stages.total_slow_wave_sleep_time_milli
            + stages.total_rem_sleep_time_milli
        )
        score = SleepScore(
            in_bed_duration_min=_minutes(stages.total_in_bed_time_milli),
            asleep_duration_min=_minutes(asleep),
            awake_duration_min=_minutes(stages.total_awake_time_milli),
            light_sleep_duration_min=_minutes(stages.total_light_sleep_time_milli),
            deep_sleep_duration_min=_minutes(stages.total_slow_wave_sleep_time_milli),
            rem_sleep_duration_min=_minutes(stages.total_rem_sleep_time_milli),
            no_data_duration_min=_minutes(stages.total_no_data_time_milli),
            sleep_cycle_count=stages.sleep_cycle_count,
            disturbance_count=stages.disturbance_count,
            sleep_need_min=_minutes(
                need.baseline_milli
                + need.need_from_sleep_debt_milli
                + need.need_from_recent_strain_milli
                + need.need_from_recent_nap_milli
            ),
            sleep_performance_pct=sleep.score.sleep_performance_percentage,
            sleep_consistency_pct=sleep.score.sleep_consistency_percentage,
            sleep_efficiency_pct=sleep.score.sleep_efficiency_percentage,
            respiratory_rate_per_min=sleep.score.respiratory_rate,
        )
        extras["sleep_need_baseline_min"] = _minutes(need.baseline_milli)
        extras["sleep_need_from_debt_min"] = _minutes(need.need_from_sleep_debt_milli)
        extras["sleep_need_from_strain_min"] = _minutes(need.need_from_recent_strain_milli)
        extras["sleep_need_from_naps_min"] = _minutes(need.need_from_recent_nap_milli)
    return Sleep(
        provider=PROVIDER,
        source_id=str(sleep.id),
        day=end.date(),
        start=start,
        end=end,
        nap=sleep.nap,
        score_state=_state(sleep.score_state),
        score=score,
        extras=extras,
        updated_at=sleep.updated_at,
    )


def main_sleep_by_cycle(sleeps: list[wire.Sleep]) -> dict[int, wire.Sleep]:
    """Each cycle's main sleep (its longest non-nap), by cycle id."""
    mains: dict[int, wire.Sleep] = {}
    for sleep in sleeps:
        if sleep.nap:
            continue
        current = mains.get(sleep.cycle_id)
        if current is None or (sleep.end - sleep.start) > (current.end - current.start):
            mains[sleep.cycle_id] = sleep
    return mains


def _cycle_day(cycle: wire.Cycle, main_sleep: wire.Sleep | None) -> date:
    if main_sleep is not None:
        return _local(main_sleep.end, main_sleep.timezone_offset).date()
    return (_local(cycle.start, cycle.timezone_offset) + timedelta(hours=12)).date()


def cycle_to_core(
    cycle: wire.Cycle, *, main_sleep: wire.Sleep | None = None, day: date | None = None
) -> Cycle:
    """A WHOOP physiological cycle; pass its main sleep (if known) to pin its day exactly.

    ``day`` is that sleep's day when the sleep is known only as a core `Sleep` (a
    record kept in the history store); it wins over ``main_sleep``.
    """
    score = None
    if cycle.score_state is wire.ScoreState.SCORED and cycle.score is not None:
        score = CycleScore(
            strain=cycle.score.strain,
            energy_kcal=_kcal(cycle.score.kilojoule),
            avg_heart_rate_bpm=cycle.score.average_heart_rate,
            max_heart_rate_bpm=cycle.score.max_heart_rate,
        )
    return Cycle(
        provider=PROVIDER,
        source_id=str(cycle.id),
        day=day if day is not None else _cycle_day(cycle, main_sleep),
        start=_local(cycle.start, cycle.timezone_offset),
        end=_local(cycle.end, cycle.timezone_offset) if cycle.end is not None else None,
        score_state=_state(cycle.score_state),
        score=score,
        updated_at=cycle.updated_at,
    )


def recovery_to_core(
    recovery: wire.Recovery,
    *,
    sleep: wire.Sleep | None = None,
    cycle: wire.Cycle | None = None,
    kept_sleep: Sleep | None = None,
) -> Recovery:
    """A WHOOP recovery, placed in time by the sleep it was measured over.

    WHOOP recoveries carry no time or offset of their own; pass their sleep
    (``recovery.sleep_id``), or that sleep as a core record already kept
    (``kept_sleep``: its local times and day are the same), or failing that
    their cycle.

    Raises:
        ValueError: neither the sleep nor the cycle was given.
    """
    if kept_sleep is not None:
        start = kept_sleep.start
        end: datetime | None = kept_sleep.end
        day = kept_sleep.day
    elif sleep is not None:
        start = _local(sleep.start, sleep.timezone_offset)
        end = _local(sleep.end, sleep.timezone_offset)
        day = _local(sleep.end, sleep.timezone_offset).date()
    elif cycle is not None:
        start = _local(cycle.start, cycle.timezone_offset)
        end = None
        day = _cycle_day(cycle, None)
    else:
        raise ValueError("a WHOOP recovery needs its sleep or its cycle to be placed in time")
    score = None
    if recovery.score_state is wire.ScoreState.SCORED and recovery.score is not None:
        score = RecoveryScore(
            recovery_score_pct=recovery.score.recovery_score,
            resting_heart_rate_bpm=recovery.score.resting_heart_rate,
            hrv_rmssd_ms=recovery.score.hrv_rmssd_milli,
            spo2_pct=recovery.score.spo2_percentage,
            skin_temp_celsius=recovery.score.skin_temp_celsius,
            calibrating=recovery.score.user_calibrating,
        )
    return Recovery(
        provider=PROVIDER,
        source_id=str(recovery.cycle_id),
        day=day,
        start=start,
        end=end,
        sleep_source_id=str(recovery.sleep_id),
        cycle_source_id=str(recovery.cycle_id),
        score_state=_state(recovery.score_state),
        score=score,
        updated_at=recovery.updated_at,
    )


def workout_to_core(workout: wire.WorkoutV2) -> Workout:
    """A WHOOP workout."""
    start = _local(workout.start, workout.timezone_offset)
    extras: dict[str, JsonValue] = {}
    if workout.sport_id is not None:
        extras["sport_id"] = workout.sport_id
    if workout.v1_id is not None:
        extras["v1_id"] = workout.v1_id
    score = None
    if workout.score_state is wire.ScoreState.SCORED and workout.score is not None:
        zones = workout.score.zone_durations
        score = WorkoutScore(
            strain=workout.score.strain,
            energy_kcal=_kcal(workout.score.kilojoule),
            avg_heart_rate_bpm=workout.score.average_heart_rate,
            max_heart_rate_bpm=workout.score.max_heart_rate,
            heart_rate_recorded_pct=workout.score.percent_recorded,
            distance_m=workout.score.distance_meter,
            altitude_gain_m=workout.score.altitude_gain_meter,
            altitude_change_m=workout.score.altitude_change_meter,
            heart_rate_zones=HeartRateZones(
                zone_0_min=_minutes(zones.zone_zero_milli),
                zone_1_min=_minutes(zones.zone_one_milli),
                zone_2_min=_minutes(zones.zone_two_milli),
                zone_3_min=_minutes(zones.zone_three_milli),
                zone_4_min=_minutes(zones.zone_four_milli),
                zone_5_min=_minutes(zones.zone_five_milli),
            ),
        )
    return Workout(
        provider=PROVIDER,
        source_id=str(workout.id),
        day=start.date(),
        start=start,
        end=_local(workout.end, workout.timezone_offset),
        sport=workout.sport_name,
        score_state=_state(workout.score_state),
        score=score,
        extras=extras,
        updated_at=workout.updated_at,
    )


def profile_to_core(profile: wire.UserBasicProfile) -> Profile:
    """A WHOOP member's basic profile."""
    return Profile(
        provider=PROVIDER,
        source_id=str(profile.user_id),
        email=profile.email,
        first_name=profile.first_name,
        last_name=profile.last_name,
    )


def body_measurement_to_core(body: wire.UserBodyMeasurement) -> BodyMeasurement:
    """A WHOOP member's body measurement."""
    return BodyMeasurement(
        provider=PROVIDER,
        height_m=body.height_meter,
        weight_kg=body.weight_kilogram,
        max_heart_rate_bpm=body.max_heart_rate,
    )
