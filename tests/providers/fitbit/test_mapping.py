"""Wire → core mapping, snapshot-tested on discovery-shaped payloads, edge cases included."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel, ValidationError

from tests.providers.fitbit import payloads as gh
from wellpipe.core import ScoreState
from wellpipe.providers.fitbit import mapping
from wellpipe.providers.fitbit import schemas as wire

NY = timezone(timedelta(hours=-5))
PARIS = timezone(timedelta(hours=1))

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """As the client parses: from JSON text, strictly."""
    return model.model_validate_json(json.dumps(body))


def point(body: dict[str, Any]) -> wire.ReconciledDataPoint:
    return parse(wire.ReconciledDataPoint, body)


def dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def at(day: int, hour: int, minute: int = 0, tz: timezone = NY, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


NIGHT = [
    ("AWAKE", at(20, 23, 10), at(20, 23, 22)),
    ("LIGHT", at(20, 23, 22), at(21, 1, 0)),
    ("DEEP", at(21, 1, 0), at(21, 2, 10)),
    ("REM", at(21, 2, 10), at(21, 3, 0)),
    ("AWAKE", at(21, 3, 0), at(21, 3, 6)),
    ("LIGHT", at(21, 3, 6), at(21, 5, 40)),
    ("REM", at(21, 5, 40), at(21, 7, 2)),
]


def test_a_staged_night_crossing_midnight_belongs_to_the_morning() -> None:
    sleep = mapping.sleep_to_core(point(gh.sleep_point("a1b2c3d4", NIGHT)))
    assert dump(sleep) == snapshot(
        {
            "provider": "fitbit",
            "source_id": "a1b2c3d4",
            "day": "2026-11-21",
            "extras": {
                "sleep_type": "STAGES",
                "main_sleep": True,
                "stages_status": "SUCCEEDED",
                "minutes_after_wake_up": 3.0,
            },
            "updated_at": "2026-11-21T12:02:00Z",
            "start": "2026-11-20T23:10:00-05:00",
            "end": "2026-11-21T07:02:00-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 472.0,
                "asleep_duration_min": 454.0,
                "awake_duration_min": 18.0,
                "light_sleep_duration_min": 252.0,
                "deep_sleep_duration_min": 70.0,
                "rem_sleep_duration_min": 132.0,
                "no_data_duration_min": None,
                "sleep_cycle_count": None,
                "disturbance_count": None,
                "latency_min": 12.0,
                "sleep_need_min": None,
                "sleep_performance_pct": None,
                "sleep_score_pct": None,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": None,
                "respiratory_rate_per_min": None,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [
                {
                    "stage": "awake",
                    "start": "2026-11-20T23:10:00-05:00",
                    "end": "2026-11-20T23:22:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-20T23:22:00-05:00",
                    "end": "2026-11-21T01:00:00-05:00",
                },
                {
                    "stage": "deep",
                    "start": "2026-11-21T01:00:00-05:00",
                    "end": "2026-11-21T02:10:00-05:00",
                },
                {
                    "stage": "rem",
                    "start": "2026-11-21T02:10:00-05:00",
                    "end": "2026-11-21T03:00:00-05:00",
                },
                {
                    "stage": "awake",
                    "start": "2026-11-21T03:00:00-05:00",
                    "end": "2026-11-21T03:06:00-05:00",
                },
                {
                    "stage": "light",
                    "start": "2026-11-21T03:06:00-05:00",
                    "end": "2026-11-21T05:40:00-05:00",
                },
                {
                    "stage": "rem",
                    "start": "2026-11-21T05:40:00-05:00",
                    "end": "2026-11-21T07:02:00-05:00",
                },
            ],
        }
    )
    assert sleep.day == date(2026, 11, 21)
    assert sleep.start.isoformat() == "2026-11-20T23:10:00-05:00"


def test_a_classic_sleep_has_no_light_deep_or_rem() -> None:
    segments = [
        ("AWAKE", at(20, 23, 40), at(20, 23, 55)),
        ("ASLEEP", at(20, 23, 55), at(21, 3, 0)),
        ("RESTLESS", at(21, 3, 0), at(21, 3, 20)),
        ("ASLEEP", at(21, 3, 20), at(21, 6, 30)),
    ]
    sleep = mapping.sleep_to_core(point(gh.sleep_point("c1a55c", segments, kind="CLASSIC")))
    assert dump(sleep) == snapshot(
        {
            "provider": "fitbit",
            "source_id": "c1a55c",
            "day": "2026-11-21",
            "extras": {
                "sleep_type": "CLASSIC",
                "main_sleep": True,
                "stages_status": "REJECTED_COVERAGE",
                "restless_min": 20.0,
                "minutes_after_wake_up": 3.0,
            },
            "updated_at": "2026-11-21T11:30:00Z",
            "start": "2026-11-20T23:40:00-05:00",
            "end": "2026-11-21T06:30:00-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 410.0,
                "asleep_duration_min": 375.0,
                "awake_duration_min": 15.0,
                "light_sleep_duration_min": None,
                "deep_sleep_duration_min": None,
                "rem_sleep_duration_min": None,
                "no_data_duration_min": None,
                "sleep_cycle_count": None,
                "disturbance_count": None,
                "latency_min": 12.0,
                "sleep_need_min": None,
                "sleep_performance_pct": None,
                "sleep_score_pct": None,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": None,
                "respiratory_rate_per_min": None,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [
                {
                    "stage": "awake",
                    "start": "2026-11-20T23:40:00-05:00",
                    "end": "2026-11-20T23:55:00-05:00",
                },
                {
                    "stage": "asleep",
                    "start": "2026-11-20T23:55:00-05:00",
                    "end": "2026-11-21T03:00:00-05:00",
                },
                {
                    "stage": "restless",
                    "start": "2026-11-21T03:00:00-05:00",
                    "end": "2026-11-21T03:20:00-05:00",
                },
                {
                    "stage": "asleep",
                    "start": "2026-11-21T03:20:00-05:00",
                    "end": "2026-11-21T06:30:00-05:00",
                },
            ],
        }
    )
    assert sleep.score is not None
    assert sleep.score.light_sleep_duration_min is None
    assert sleep.score.deep_sleep_duration_min is None
    assert sleep.score.rem_sleep_duration_min is None
    assert [s.stage.value for s in sleep.stages] == ["awake", "asleep", "restless", "asleep"]


def test_a_nap_is_a_nap_on_its_own_day() -> None:
    segments = [("ASLEEP", at(21, 14, 5), at(21, 14, 50))]
    sleep = mapping.sleep_to_core(
        point(gh.sleep_point("0a0a0a", segments, kind="CLASSIC", nap=True, to_fall_asleep=0))
    )
    assert sleep.nap
    assert sleep.day == date(2026, 11, 21)
    assert sleep.score is not None
    assert sleep.score.latency_min == 0.0


def test_a_night_still_being_processed_is_pending_without_a_score() -> None:
    sleep = mapping.sleep_to_core(point(gh.sleep_point("fresh1", NIGHT, processed=False)))
    assert sleep.score_state is ScoreState.PENDING
    assert sleep.score is None
    assert sleep.stages == ()
    assert sleep.day == date(2026, 11, 21)


def test_metadata_without_processed_true_is_still_processing() -> None:
    body = gh.sleep_point("fresh2", NIGHT)
    body["sleep"]["metadata"] = {"mainSleep": True}  # proto3 JSON leaves out processed: false
    assert mapping.sleep_to_core(point(body)).score_state is ScoreState.PENDING
    del body["sleep"]["metadata"]
    assert mapping.sleep_to_core(point(body)).score_state is ScoreState.SCORED


def test_efficiency_is_never_invented() -> None:
    sleep = mapping.sleep_to_core(point(gh.sleep_point("a1b2c3d4", NIGHT)))
    assert sleep.score is not None
    assert sleep.score.sleep_efficiency_pct is None
    assert sleep.score.sleep_score_pct is None


def test_a_flight_night_keeps_each_end_at_its_own_offset() -> None:
    # Left New York asleep at 22:00 (-05:00), woke up in Paris at 12:00 (+01:00).
    segments = [
        ("LIGHT", at(13, 22, 0, NY, 9), at(14, 4, 0, NY, 9)),
        ("DEEP", at(14, 10, 0, PARIS, 9), at(14, 12, 0, PARIS, 9)),
    ]
    sleep = mapping.sleep_to_core(point(gh.sleep_point("f1y", segments)))
    assert sleep.start.isoformat() == "2026-09-13T22:00:00-05:00"
    assert sleep.end.isoformat() == "2026-09-14T12:00:00+01:00"
    assert sleep.day == date(2026, 9, 14)
    assert [s.start.utcoffset() for s in sleep.stages] == [
        timedelta(hours=-5),
        timedelta(hours=1),
    ]


def test_the_day_is_the_civil_end_date_not_the_utc_date() -> None:
    # Ends 18:30 in Los Angeles, which is already tomorrow in UTC.
    la = timezone(timedelta(hours=-8))
    segments = [("ASLEEP", at(20, 17, 45, la), at(20, 18, 30, la))]
    sleep = mapping.sleep_to_core(point(gh.sleep_point("dusk", segments, kind="CLASSIC", nap=True)))
    assert sleep.end.astimezone(UTC).date() == date(2026, 11, 21)
    assert sleep.day == date(2026, 11, 20)


def test_an_exercise_with_its_metrics_in_metric_units() -> None:
    metrics = {
        "caloriesKcal": 612.5,
        "distanceMillimeters": 10_250_400.0,
        "steps": "9120",
        "averageHeartRateBeatsPerMinute": "151",
        "activeZoneMinutes": "58",
        "elevationGainMillimeters": 84_000.0,
        "heartRateZoneDurations": {"lightTime": "300s", "moderateTime": "1500s", "peakTime": "90s"},
        "runVo2Max": 48.2,
    }
    workout = mapping.workout_to_core(
        point(gh.exercise_point("run42", at(20, 23, 30), at(21, 0, 35), metrics=metrics))
    )
    assert dump(workout) == snapshot(
        {
            "provider": "fitbit",
            "source_id": "run42",
            "day": "2026-11-20",
            "extras": {
                "exercise_type": "RUNNING",
                "display_name": "Running",
                "active_duration_min": 64.0,
                "heart_rate_zone_light_min": 5.0,
                "heart_rate_zone_moderate_min": 25.0,
                "heart_rate_zone_peak_min": 1.5,
                "run_vo2_max": 48.2,
            },
            "updated_at": None,
            "start": "2026-11-20T23:30:00-05:00",
            "end": "2026-11-21T00:35:00-05:00",
            "score_state": "scored",
            "score": {
                "strain": None,
                "energy_kcal": 612.5,
                "avg_heart_rate_bpm": 151,
                "max_heart_rate_bpm": None,
                "heart_rate_recorded_pct": None,
                "distance_m": 10250.4,
                "altitude_gain_m": 84.0,
                "altitude_change_m": None,
                "steps": 9120,
                "active_zone_min": 58.0,
                "intensity": None,
                "heart_rate_zones": None,
            },
            "kind": "workout",
            "sport": "running",
        }
    )
    assert workout.day == date(2026, 11, 20)  # started before midnight


def test_an_exercise_without_metrics_is_absent_not_zero() -> None:
    workout = mapping.workout_to_core(
        point(
            gh.exercise_point(
                "yoga1",
                at(21, 7),
                at(21, 7, 45),
                exercise_type="OTHER",
                display_name="Morning stretch",
            )
        )
    )
    assert workout.sport == "Morning stretch"
    assert workout.score is not None
    assert workout.score.model_dump(exclude_none=True) == {}


def test_activity_joins_each_days_rollups_and_leaves_missing_days_out() -> None:
    d1, d2, d4 = date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 21)
    rollups = [
        gh.daily_rollup(d1, steps={"countSum": "10412"}),
        gh.daily_rollup(d2, steps={"countSum": "3120"}),
        gh.daily_rollup(d4, steps={"countSum": "0"}),
        gh.daily_rollup(d1, distance={"millimetersSum": "7810000"}),
        gh.daily_rollup(d1, totalCalories={"kcalSum": 2450.5}),
        gh.daily_rollup(d2, totalCalories={"kcalSum": 1980.0}),
        gh.daily_rollup(d1, activeEnergyBurned={"kcalSum": 610.25}),
        gh.daily_rollup(
            d1,
            activeZoneMinutes={
                "sumInFatBurnHeartZone": "20",
                "sumInCardioHeartZone": "14",
                "sumInPeakHeartZone": "4",
            },
        ),
        gh.daily_rollup(date(2026, 11, 20)),  # a day nothing was recorded
    ]
    activities = mapping.activities_to_core(parse(wire.DailyRollupDataPoint, r) for r in rollups)
    assert [dump(a) for a in activities] == snapshot(
        [
            {
                "provider": "fitbit",
                "source_id": "2026-11-21",
                "day": "2026-11-21",
                "extras": {},
                "updated_at": None,
                "kind": "activity",
                "steps": 0,
                "distance_m": None,
                "active_energy_kcal": None,
                "total_energy_kcal": None,
                "active_zone_min": None,
                "high_activity_min": None,
                "medium_activity_min": None,
                "low_activity_min": None,
                "sedentary_min": None,
                "activity_score_pct": None,
            },
            {
                "provider": "fitbit",
                "source_id": "2026-11-19",
                "day": "2026-11-19",
                "extras": {},
                "updated_at": None,
                "kind": "activity",
                "steps": 3120,
                "distance_m": None,
                "active_energy_kcal": None,
                "total_energy_kcal": 1980.0,
                "active_zone_min": None,
                "high_activity_min": None,
                "medium_activity_min": None,
                "low_activity_min": None,
                "sedentary_min": None,
                "activity_score_pct": None,
            },
            {
                "provider": "fitbit",
                "source_id": "2026-11-18",
                "day": "2026-11-18",
                "extras": {},
                "updated_at": None,
                "kind": "activity",
                "steps": 10412,
                "distance_m": 7810.0,
                "active_energy_kcal": 610.25,
                "total_energy_kcal": 2450.5,
                "active_zone_min": 38.0,
                "high_activity_min": None,
                "medium_activity_min": None,
                "low_activity_min": None,
                "sedentary_min": None,
                "activity_score_pct": None,
            },
        ]
    )
    assert [a.day for a in activities] == [d4, d2, d1]


def test_vitals_per_date_with_temperature_deviation_and_the_days_last_weigh_in() -> None:
    d1, d2 = date(2026, 11, 20), date(2026, 11, 21)
    points = [
        gh.daily_point(
            "dailyRestingHeartRate",
            d1,
            beatsPerMinute="54",
            dailyRestingHeartRateMetadata={"calculationMethod": "WITH_SLEEP"},
        ),
        gh.daily_point(
            "dailyHeartRateVariability",
            d1,
            averageHeartRateVariabilityMilliseconds=41.7,
            deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds=48.1,
        ),
        gh.daily_point(
            "dailyOxygenSaturation",
            d1,
            averagePercentage=96.4,
            lowerBoundPercentage=94.0,
            upperBoundPercentage=98.0,
        ),
        gh.daily_point("dailyRespiratoryRate", d1, breathsPerMinute=14.6),
        gh.daily_point(
            "dailySleepTemperatureDerivations",
            d1,
            nightlyTemperatureCelsius=34.1,
            baselineTemperatureCelsius=33.8,
        ),
        gh.daily_point("dailySleepTemperatureDerivations", d2, nightlyTemperatureCelsius=33.9),
        gh.daily_point("dailyVo2Max", d2, vo2Max=46.3, cardioFitnessLevel="GOOD"),
        gh.weight_point(at(20, 7, 5), 72_400.0),
        gh.weight_point(at(20, 21, 40), 73_100.0),
    ]
    vitals = mapping.vitals_to_core(point(p) for p in points)
    assert [dump(v) for v in vitals] == snapshot(
        [
            {
                "provider": "fitbit",
                "source_id": "2026-11-21",
                "day": "2026-11-21",
                "extras": {"cardio_fitness_level": "GOOD"},
                "updated_at": None,
                "kind": "vitals",
                "resting_heart_rate_bpm": None,
                "resting_heart_rate_awake_only": None,
                "hrv_rmssd_ms": None,
                "spo2_pct": None,
                "respiratory_rate_per_min": None,
                "skin_temp_celsius": 33.9,
                "skin_temp_deviation_celsius": None,
                "vo2_max_ml_kg_min": 46.3,
                "weight_kg": None,
                "breathing_disturbance_index": None,
                "stress_high_min": None,
                "recovery_high_min": None,
            },
            {
                "provider": "fitbit",
                "source_id": "2026-11-20",
                "day": "2026-11-20",
                "extras": {
                    "hrv_deep_sleep_rmssd_ms": 48.1,
                    "skin_temp_baseline_celsius": 33.8,
                },
                "updated_at": None,
                "kind": "vitals",
                "resting_heart_rate_bpm": 54.0,
                "resting_heart_rate_awake_only": False,
                "hrv_rmssd_ms": 41.7,
                "spo2_pct": 96.4,
                "respiratory_rate_per_min": 14.6,
                "skin_temp_celsius": 34.1,
                "skin_temp_deviation_celsius": 0.3,
                "vo2_max_ml_kg_min": None,
                "weight_kg": 73.1,
                "breathing_disturbance_index": None,
                "stress_high_min": None,
                "recovery_high_min": None,
            },
        ]
    )
    assert vitals[0].skin_temp_deviation_celsius is None  # no baseline yet


@pytest.mark.parametrize(
    ("method", "awake_only"),
    [("ONLY_WITH_AWAKE_DATA", True), ("WITH_SLEEP", False), (None, None)],
    ids=["awake", "sleep", "unsaid"],
)
def test_a_resting_heart_rate_from_awake_data_only_says_so(
    method: str | None, awake_only: bool | None
) -> None:
    metadata = {"dailyRestingHeartRateMetadata": {"calculationMethod": method}} if method else {}
    rhr = gh.daily_point(
        "dailyRestingHeartRate", date(2026, 11, 20), beatsPerMinute="61", **metadata
    )
    [vitals] = mapping.vitals_to_core([point(rhr)])
    assert vitals.resting_heart_rate_bpm == 61
    assert vitals.resting_heart_rate_awake_only is awake_only


def test_profile_and_body_measurement() -> None:
    identity = parse(
        wire.Identity,
        {"name": "users/me/identity", "healthUserId": "1234567890", "legacyUserId": "ABC12D"},
    )
    profile = parse(wire.Profile, {"name": "users/1234567890/profile", "age": 37})
    assert dump(mapping.profile_to_core(identity, profile)) == snapshot(
        {
            "kind": "profile",
            "provider": "fitbit",
            "source_id": "1234567890",
            "email": None,
            "first_name": None,
            "last_name": None,
            "age": 37,
            "biological_sex": None,
        }
    )
    assert mapping.profile_to_core(identity, None).age is None
    weight = parse(wire.Weight, gh.weight_point(at(20, 7, 5), 72_400.0)["weight"])
    height = parse(
        wire.Height,
        {
            "sampleTime": gh.weight_point(at(1, 9), 1)["weight"]["sampleTime"],
            "heightMillimeters": "1780",
        },
    )
    assert dump(mapping.body_measurement_to_core(weight, height)) == snapshot(
        {
            "kind": "body_measurement",
            "provider": "fitbit",
            "height_m": 1.78,
            "weight_kg": 72.4,
            "max_heart_rate_bpm": None,
        }
    )
    assert mapping.body_measurement_to_core(None, None).weight_kg is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": 8123}, "count"),  # an int64 must be a string
        ({"count": "81.5"}, "count"),
        ({"count": "9" * 20}, "count"),
    ],
)
def test_int64_values_are_strings_of_digits(body: dict[str, Any], field: str) -> None:
    interval = gh.interval(at(21, 7), at(21, 8))
    with pytest.raises(ValidationError) as caught:
        parse(wire.Steps, {"interval": interval, **body})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0.0), ("1830s", 1830.0), ("-18000s", -18000.0), ("0.5s", 0.5), ("3.000000001s", 3.0)],
)
def test_durations_are_strings_of_seconds(text: str, seconds: float) -> None:
    parsed = parse(wire.TimeInHeartRateZones, {"peakTime": text}).peakTime
    assert parsed is not None
    assert parsed.total_seconds() == seconds


@pytest.mark.parametrize("text", ["90", 90, "1m", "s", "1.s", "1e3s"])
def test_anything_else_is_not_a_duration(text: Any) -> None:
    with pytest.raises(ValidationError):
        parse(wire.TimeInHeartRateZones, {"peakTime": text})


def test_a_civil_date_is_an_object_not_a_string() -> None:
    with pytest.raises(ValidationError):
        parse(wire.DailyRespiratoryRate, {"date": "2026-11-21", "breathsPerMinute": 14.0})
    with pytest.raises(ValidationError):
        parse(
            wire.DailyRespiratoryRate,
            {"date": {"year": "2026", "month": 11, "day": 21}, "breathsPerMinute": 14.0},
        )


def test_unknown_fields_and_enum_values_pass_through() -> None:
    body = gh.sleep_point("a1b2c3d4", [*NIGHT[:-1], ("MICRO_AROUSAL", at(21, 5, 40), at(21, 7, 2))])
    body["sleep"]["somethingNew"] = {"x": 1}
    sleep = mapping.sleep_to_core(point(body))
    assert all(s.stage.value != "micro_arousal" for s in sleep.stages)
    assert len(sleep.stages) == len(NIGHT) - 1


def test_a_point_without_a_name_gets_a_stable_id() -> None:
    body = gh.sleep_point("x", NIGHT)
    del body["dataPointName"]
    assert mapping.sleep_to_core(point(body)).source_id == "sleep-20261121T041000Z"
