"""Oura wire → core mapping, snapshot-tested on spec-valid bodies, edge cases included."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel, ValidationError

from tests.providers.oura import fixtures as fx
from wellpipe.core.models import ScoreState, SleepStage
from wellpipe.providers.oura import mapping
from wellpipe.providers.oura import schemas as wire

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """As the client parses: from JSON text, strictly."""
    return model.model_validate_json(json.dumps(body))


def periods(*bodies: dict[str, Any]) -> list[wire.PublicModifiedSleepModel]:
    return [parse(wire.PublicModifiedSleepModel, b) for b in bodies]


def dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def test_a_scored_night_with_its_daily_score_and_stage_timeline() -> None:
    sleeps = mapping.sleeps_to_core(
        periods(fx.NIGHT), [parse(wire.PublicDailySleep, d) for d in fx.DAILY_SLEEPS]
    )
    [night] = sleeps
    assert dump(night) == snapshot(
        {
            "provider": "oura",
            "source_id": "c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e01",
            "day": "2026-11-20",
            "extras": {"period": 1, "type": "long_sleep"},
            "updated_at": None,
            "start": "2026-11-19T23:10:00-05:00",
            "end": "2026-11-20T02:15:00-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 185.0,
                "asleep_duration_min": 156.0,
                "awake_duration_min": 29.0,
                "light_sleep_duration_min": 75.0,
                "deep_sleep_duration_min": 45.0,
                "rem_sleep_duration_min": 36.0,
                "no_data_duration_min": None,
                "sleep_cycle_count": None,
                "disturbance_count": 7,
                "latency_min": 10.0,
                "sleep_need_min": None,
                "sleep_performance_pct": None,
                "sleep_score_pct": 81.0,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": 84.0,
                "respiratory_rate_per_min": 14.625,
                "avg_heart_rate_bpm": 56.375,
                "lowest_heart_rate_bpm": 51.0,
                "avg_hrv_rmssd_ms": 48.0,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [
                {
                    "stage": "awake",
                    "start": "2026-11-19T23:10:00-05:00",
                    "end": "2026-11-19T23:20:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-19T23:20:00-05:00",
                    "end": "2026-11-19T23:35:00-05:00",
                },
                {
                    "stage": "deep",
                    "start": "2026-11-19T23:35:00-05:00",
                    "end": "2026-11-19T23:55:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-19T23:55:00-05:00",
                    "end": "2026-11-20T00:10:00-05:00",
                },
                {
                    "stage": "rem",
                    "start": "2026-11-20T00:10:00-05:00",
                    "end": "2026-11-20T00:25:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-20T00:25:00-05:00",
                    "end": "2026-11-20T00:40:00-05:00",
                },
                {
                    "stage": "deep",
                    "start": "2026-11-20T00:40:00-05:00",
                    "end": "2026-11-20T01:00:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-20T01:00:00-05:00",
                    "end": "2026-11-20T01:15:00-05:00",
                },
                {
                    "stage": "rem",
                    "start": "2026-11-20T01:15:00-05:00",
                    "end": "2026-11-20T01:35:00-05:00",
                },
                {
                    "stage": "awake",
                    "start": "2026-11-20T01:35:00-05:00",
                    "end": "2026-11-20T01:45:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-20T01:45:00-05:00",
                    "end": "2026-11-20T02:00:00-05:00",
                },
                {
                    "stage": "rem",
                    "start": "2026-11-20T02:00:00-05:00",
                    "end": "2026-11-20T02:15:00-05:00",
                },
            ],
        }
    )


def test_the_stage_timeline_covers_the_night_in_five_minute_slots() -> None:
    [night] = mapping.sleeps_to_core(periods(fx.NIGHT))
    stages = night.stages
    assert stages[0].start == night.start
    assert stages[-1].end == night.start + timedelta(minutes=5 * len(fx.PHASES_NIGHT))
    assert all(a.end == b.start for a, b in itertools.pairwise(stages))
    assert all(a.stage != b.stage for a, b in itertools.pairwise(stages))
    minutes = {
        stage: sum(s.duration_min for s in stages if s.stage is stage) for stage in SleepStage
    }
    assert minutes[SleepStage.DEEP] == 5 * fx.PHASES_NIGHT.count("1")
    assert minutes[SleepStage.AWAKE] == 5 * fx.PHASES_NIGHT.count("4")


def test_stages_are_cut_at_bedtime_end_and_unknown_digits_leave_gaps() -> None:
    night = parse(wire.PublicModifiedSleepModel, fx.NIGHT)
    end = night.bedtime_start + timedelta(minutes=12)
    stages = mapping.stages_from_5_min("44x22", night.bedtime_start, end)
    assert [(s.stage, s.duration_min) for s in stages] == [(SleepStage.AWAKE, 10.0)]
    stages = mapping.stages_from_5_min("4x2", night.bedtime_start, night.bedtime_end)
    assert [(s.stage, s.start - night.bedtime_start) for s in stages] == [
        (SleepStage.AWAKE, timedelta(0)),
        (SleepStage.LIGHT, timedelta(minutes=10)),
    ]


def test_a_nap_is_a_nap_without_the_days_sleep_score() -> None:
    sleeps = mapping.sleeps_to_core(
        periods(fx.NIGHT, fx.NAP), [parse(wire.PublicDailySleep, d) for d in fx.DAILY_SLEEPS]
    )
    night, nap = sleeps
    assert night.score is not None
    assert night.score.sleep_score_pct == 81
    assert dump(nap) == snapshot(
        {
            "provider": "oura",
            "source_id": "c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e02",
            "day": "2026-11-20",
            "extras": {"period": 2, "type": "sleep"},
            "updated_at": None,
            "start": "2026-11-20T15:00:00-05:00",
            "end": "2026-11-20T15:40:00-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 40.0,
                "asleep_duration_min": 30.0,
                "awake_duration_min": 10.0,
                "light_sleep_duration_min": 25.0,
                "deep_sleep_duration_min": 5.0,
                "rem_sleep_duration_min": 0.0,
                "no_data_duration_min": None,
                "sleep_cycle_count": None,
                "disturbance_count": 7,
                "latency_min": 7.0,
                "sleep_need_min": None,
                "sleep_performance_pct": None,
                "sleep_score_pct": None,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": 75.0,
                "respiratory_rate_per_min": 14.625,
                "avg_heart_rate_bpm": 56.375,
                "lowest_heart_rate_bpm": 58.0,
                "avg_hrv_rmssd_ms": 39.0,
            },
            "kind": "sleep",
            "nap": True,
            "stages": [
                {
                    "stage": "awake",
                    "start": "2026-11-20T15:00:00-05:00",
                    "end": "2026-11-20T15:10:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-20T15:10:00-05:00",
                    "end": "2026-11-20T15:30:00-05:00",
                },
                {
                    "stage": "deep",
                    "start": "2026-11-20T15:30:00-05:00",
                    "end": "2026-11-20T15:35:00-05:00",
                },
                {
                    "stage": "awake",
                    "start": "2026-11-20T15:35:00-05:00",
                    "end": "2026-11-20T15:40:00-05:00",
                },
            ],
        }
    )


@pytest.mark.parametrize("body", [fx.REST, fx.DELETED], ids=["rest", "deleted"])
def test_rejected_rests_and_deleted_periods_are_not_sleeps(body: dict[str, Any]) -> None:
    assert mapping.sleeps_to_core(periods(body)) == ()
    with pytest.raises(ValueError, match="is not a sleep"):
        mapping.sleep_to_core(parse(wire.PublicModifiedSleepModel, body))


def test_a_night_oura_could_not_score_is_unscorable_not_zero() -> None:
    sleeps = mapping.sleeps_to_core(
        periods(fx.UNSCORED_NIGHT), [parse(wire.PublicDailySleep, d) for d in fx.DAILY_SLEEPS]
    )
    assert dump(sleeps[0]) == snapshot(
        {
            "provider": "oura",
            "source_id": "c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e05",
            "day": "2026-11-19",
            "extras": {"period": 1, "type": "long_sleep", "low_battery_alert": True},
            "updated_at": None,
            "start": "2026-11-18T23:40:00-05:00",
            "end": "2026-11-19T06:20:00-05:00",
            "score_state": "unscorable",
            "score": None,
            "kind": "sleep",
            "nap": False,
            "stages": [],
        }
    )


def test_a_night_whose_daily_scores_are_null_is_unscorable_even_with_durations() -> None:
    """Oura measured the night, then scored it as nothing: unscorable, not scored and empty."""
    measured = {**fx.NIGHT, "day": "2026-11-19", "low_battery_alert": False}
    nap = {**fx.NAP, "day": "2026-11-19"}
    daily = [parse(wire.PublicDailySleep, fx.daily_sleep("2026-11-19", None))]
    night, nap_sleep = mapping.sleeps_to_core(periods(measured, nap), daily)
    assert night.score_state is ScoreState.UNSCORABLE
    assert night.score is None
    assert night.stages  # the timeline Oura sent is kept
    assert nap_sleep.score_state is ScoreState.SCORED  # a nap never carries the day's score
    # Without the day's daily_sleep (not read, or not there yet) the night stays scored.
    [alone] = mapping.sleeps_to_core(periods(measured))
    assert alone.score_state is ScoreState.SCORED


def test_a_night_across_a_flight_keeps_both_offsets_and_oura_s_day() -> None:
    [night] = mapping.sleeps_to_core(periods(fx.TRAVEL_NIGHT))
    assert night.day == date(2026, 11, 18)
    assert night.start.isoformat() == "2026-11-17T18:50:00-05:00"
    assert night.end.isoformat() == "2026-11-18T07:35:00+01:00"
    assert night.duration_min == 6 * 60 + 45
    assert not night.nap


def test_a_period_without_a_type_is_a_nap_when_shorter_than_three_hours() -> None:
    short, long = periods(
        {**fx.NAP, "type": None}, {**fx.NIGHT, "type": None, "id": "untyped-night"}
    )
    assert mapping.sleep_to_core(short).nap
    assert not mapping.sleep_to_core(long).nap


def test_only_the_longest_long_sleep_of_a_day_gets_the_days_score() -> None:
    second = {
        **fx.NIGHT,
        "id": "short-long-sleep",
        "bedtime_start": "2026-11-20T04:00:00-05:00",
        "bedtime_end": "2026-11-20T07:30:00-05:00",
        "time_in_bed": 12_600,
    }
    first, other = mapping.sleeps_to_core(
        periods(fx.NIGHT, second), [parse(wire.PublicDailySleep, fx.daily_sleep("2026-11-20", 81))]
    )
    assert first.score is not None
    assert first.score.sleep_score_pct is None
    assert other.score is not None
    assert other.score.sleep_score_pct == 81


def test_readiness_leaves_out_contributors_oura_left_empty() -> None:
    readiness = mapping.readiness_to_core(
        parse(wire.PublicDailyReadiness, fx.daily_readiness("2026-11-20"))
    )
    assert dump(readiness) == snapshot(
        {
            "provider": "oura",
            "source_id": "dr-2026-11-20",
            "day": "2026-11-20",
            "extras": {},
            "updated_at": None,
            "kind": "readiness",
            "score_pct": 82.0,
            "contributors": {
                "activity_balance": 80,
                "body_temperature": 97,
                "hrv_balance": 71,
                "previous_night": 85,
                "recovery_index": 90,
                "resting_heart_rate": 88,
                "sleep_balance": 79,
            },
            "temperature_deviation_celsius": -0.12,
            "temperature_trend_deviation_celsius": 0.05,
        }
    )


def test_an_unscored_readiness_has_no_score_and_no_contributors() -> None:
    body = fx.daily_readiness(
        "2026-11-19",
        score=None,
        temperature_deviation=None,
        temperature_trend_deviation=None,
        contributors={},
    )
    readiness = mapping.readiness_to_core(parse(wire.PublicDailyReadiness, body))
    assert readiness.score_pct is None
    assert readiness.contributors == {}
    assert readiness.temperature_deviation_celsius is None


def test_daily_activity() -> None:
    activity = mapping.activity_to_core(
        parse(wire.PublicDailyActivity, fx.daily_activity("2026-11-20"))
    )
    assert dump(activity) == snapshot(
        {
            "provider": "oura",
            "source_id": "da-2026-11-20",
            "day": "2026-11-20",
            "extras": {
                "contributors": {
                    "meet_daily_targets": 60,
                    "move_every_hour": 100,
                    "recovery_time": 95,
                    "stay_active": 78,
                    "training_volume": 96,
                }
            },
            "updated_at": None,
            "kind": "activity",
            "steps": 10432,
            "distance_m": 9876.0,
            "active_energy_kcal": 512.0,
            "total_energy_kcal": 2640.0,
            "active_zone_min": None,
            "high_activity_min": 8.0,
            "medium_activity_min": 45.0,
            "low_activity_min": 220.0,
            "sedentary_min": 550.0,
            "activity_score_pct": 84.0,
        }
    )


def test_vitals_merge_five_routes_per_day_and_absent_stays_absent() -> None:
    vitals = mapping.vitals_by_day(
        spo2=[parse(wire.PublicDailySpO2, fx.daily_spo2("2026-11-20"))],
        stress=[
            parse(wire.PublicDailyStress, fx.daily_stress("2026-11-20")),
            parse(wire.PublicDailyStress, fx.daily_stress("2026-11-19", None, None)),
        ],
        vo2_max=[parse(wire.PublicVO2Max, fx.vo2_max("2026-11-18"))],
        readiness=[parse(wire.PublicDailyReadiness, fx.daily_readiness("2026-11-20"))],
        sleeps=periods(*fx.PERIODS),
    )
    assert [dump(v) for v in vitals] == snapshot(
        [
            {
                "provider": "oura",
                "source_id": "vitals-2026-11-18",
                "day": "2026-11-18",
                "extras": {},
                "updated_at": None,
                "kind": "vitals",
                "resting_heart_rate_bpm": 49.0,
                "resting_heart_rate_awake_only": None,
                "hrv_rmssd_ms": 55.0,
                "spo2_pct": None,
                "respiratory_rate_per_min": 15.0,
                "skin_temp_celsius": None,
                "skin_temp_deviation_celsius": None,
                "vo2_max_ml_kg_min": 44.0,
                "weight_kg": None,
                "breathing_disturbance_index": None,
                "stress_high_min": None,
                "recovery_high_min": None,
            },
            {
                "provider": "oura",
                "source_id": "vitals-2026-11-20",
                "day": "2026-11-20",
                "extras": {"stress_day_summary": "normal"},
                "updated_at": None,
                "kind": "vitals",
                "resting_heart_rate_bpm": 51.0,
                "resting_heart_rate_awake_only": None,
                "hrv_rmssd_ms": 48.0,
                "spo2_pct": 96.4,
                "respiratory_rate_per_min": 14.625,
                "skin_temp_celsius": None,
                "skin_temp_deviation_celsius": -0.12,
                "vo2_max_ml_kg_min": None,
                "weight_kg": None,
                "breathing_disturbance_index": 9.0,
                "stress_high_min": 90.0,
                "recovery_high_min": 60.0,
            },
        ]
    )


def test_vitals_take_resting_heart_rate_from_the_night_never_a_nap_or_a_rest() -> None:
    [day] = mapping.vitals_by_day(sleeps=periods(fx.NAP, fx.REST, fx.NIGHT))
    assert day.resting_heart_rate_bpm == 51  # the night's lowest, not the rest's 40
    assert day.hrv_rmssd_ms == 48
    assert mapping.vitals_by_day(sleeps=periods(fx.NAP)) == ()


def test_a_day_without_spo2_has_no_spo2_and_a_null_spo2_is_absent() -> None:
    [day] = mapping.vitals_by_day(
        spo2=[parse(wire.PublicDailySpO2, fx.daily_spo2("2026-11-20", None, None))],
        stress=[parse(wire.PublicDailyStress, fx.daily_stress("2026-11-20"))],
    )
    assert day.spo2_pct is None
    assert day.breathing_disturbance_index is None
    assert day.stress_high_min == 90
    assert (
        mapping.vitals_by_day(
            spo2=[parse(wire.PublicDailySpO2, fx.daily_spo2("2026-11-20", None, None))]
        )
        == ()
    )


def test_vitals_ids_name_their_day() -> None:
    day = date(2026, 11, 20)
    assert mapping.vitals_id(day) == "vitals-2026-11-20"
    assert mapping.vitals_day("vitals-2026-11-20") == day
    assert mapping.vitals_day("vitals-yesterday") is None
    assert mapping.vitals_day("2026-11-20") is None


def test_a_workout_has_energy_distance_and_intensity_but_no_heart_rate() -> None:
    workout = mapping.workout_to_core(parse(wire.PublicWorkout, fx.workout()))
    assert dump(workout) == snapshot(
        {
            "provider": "oura",
            "source_id": "w-2026-11-20-run",
            "day": "2026-11-20",
            "extras": {"source": "confirmed"},
            "updated_at": None,
            "start": "2026-11-20T18:05:00-05:00",
            "end": "2026-11-20T18:52:00-05:00",
            "score_state": "scored",
            "score": {
                "strain": None,
                "energy_kcal": 431.5,
                "avg_heart_rate_bpm": None,
                "max_heart_rate_bpm": None,
                "heart_rate_recorded_pct": None,
                "distance_m": 7420.0,
                "altitude_gain_m": None,
                "altitude_change_m": None,
                "steps": None,
                "active_zone_min": None,
                "intensity": "hard",
                "heart_rate_zones": None,
            },
            "kind": "workout",
            "sport": "running",
        }
    )


def test_a_manual_workout_without_calories_or_distance() -> None:
    body = fx.workout(calories=None, distance=None, source="manual", label="Yoga with Sam")
    workout = mapping.workout_to_core(parse(wire.PublicWorkout, body))
    assert workout.score is not None
    assert workout.score.energy_kcal is None
    assert workout.score.distance_m is None
    assert workout.extras == {"source": "manual", "label": "Yoga with Sam"}


def test_personal_info_is_a_profile_without_names_and_a_body_measurement() -> None:
    info = parse(wire.PersonalInfo, fx.PERSONAL_INFO)
    assert dump(mapping.profile_to_core(info)) == snapshot(
        {
            "kind": "profile",
            "provider": "oura",
            "source_id": "oura-user-7f3a",
            "email": "alex@example.com",
            "first_name": None,
            "last_name": None,
            "age": 34,
            "biological_sex": "female",
        }
    )
    assert dump(mapping.body_measurement_to_core(info)) == snapshot(
        {
            "kind": "body_measurement",
            "provider": "oura",
            "height_m": 1.78,
            "weight_kg": 71.5,
            "max_heart_rate_bpm": None,
        }
    )


def test_personal_info_with_nothing_but_an_id() -> None:
    info = parse(wire.PersonalInfo, {"id": "x", "weight": 0, "height": None})
    profile = mapping.profile_to_core(info)
    assert profile.display_name == "account x"
    body = mapping.body_measurement_to_core(info)
    assert (body.height_m, body.weight_kg, body.max_heart_rate_bpm) == (None, None, None)


def test_the_wire_models_are_strict() -> None:
    with pytest.raises(ValidationError):
        parse(wire.PublicModifiedSleepModel, {**fx.NIGHT, "time_in_bed": "11100"})
    with pytest.raises(ValidationError):
        parse(wire.PublicModifiedSleepModel, {**fx.NIGHT, "type": "siesta"})
    with pytest.raises(ValidationError):
        parse(wire.PublicDailyActivity, {**fx.daily_activity("2026-11-20"), "steps": None})
    with pytest.raises(ValidationError):
        parse(wire.PublicWorkout, {**fx.workout(), "start_datetime": "2026-11-20T18:05:00"})
    # Unknown fields are Oura's business.
    assert parse(wire.PublicVO2Max, {**fx.vo2_max("2026-11-20"), "new_field": 1}).vo2_max == 44


def test_sessions_and_heart_rate_rows_parse() -> None:
    session = parse(wire.PublicSession, fx.SESSION)
    assert session.type is wire.MomentType.MEDITATION
    row = parse(wire.PublicHeartRateRow, fx.HEART_RATE_ROW)
    assert row.timestamp.timestamp() * 1000 == row.timestamp_unix
    assert ScoreState.SCORED.value == "scored"
