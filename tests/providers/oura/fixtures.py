"""Oura bodies as the API sends them, valid against Oura's OpenAPI 1.35, for mapping tests.

Alex lives at -05:00. The week: a scored night with a nap on 2026-11-20, a
rejected rest and a deleted period the same day, a night Oura could not score
on 2026-11-19 (no totals), and on 2026-11-18 a night after a flight to +01:00.
"""

from __future__ import annotations

from typing import Any

PHASES_NIGHT = "4422211112223332221111222333344222333"
"""37 five-minute slots: 3 h 5 min."""


def sleep_period(**overrides: Any) -> dict[str, Any]:
    """A scored ``long_sleep`` period (``PublicModifiedSleepModel``), fields overridable."""
    body: dict[str, Any] = {
        "id": "c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e01",
        "average_breath": 14.625,
        "average_heart_rate": 56.375,
        "average_hrv": 48,
        "awake_time": 1_740,
        "bedtime_end": "2026-11-20T02:15:00-05:00",
        "bedtime_start": "2026-11-19T23:10:00-05:00",
        "day": "2026-11-20",
        "deep_sleep_duration": 2_700,
        "efficiency": 84,
        "heart_rate": {
            "interval": 300.0,
            "items": [None, 58.0, 55.0, 54.0],
            "timestamp": "2026-11-19T23:10:00.000-05:00",
        },
        "hrv": {
            "interval": 300.0,
            "items": [None, 41.0, 52.0, 47.0],
            "timestamp": "2026-11-19T23:10:00.000-05:00",
        },
        "latency": 600,
        "light_sleep_duration": 4_500,
        "low_battery_alert": False,
        "lowest_heart_rate": 51,
        "movement_30_sec": "1112211111",
        "period": 1,
        "readiness": {
            "contributors": {
                "activity_balance": 80,
                "body_temperature": 97,
                "hrv_balance": 71,
                "previous_day_activity": None,
                "previous_night": 85,
                "recovery_index": 90,
                "resting_heart_rate": 88,
                "sleep_balance": 79,
                "sleep_regularity": None,
            },
            "score": 82,
            "temperature_deviation": -0.12,
            "temperature_trend_deviation": 0.05,
        },
        "readiness_score_delta": 2,
        "rem_sleep_duration": 2_160,
        "restless_periods": 7,
        "sleep_algorithm_version": "v2",
        "sleep_analysis_reason": "foreground_sleep_analysis",
        "sleep_phase_30_sec": None,
        "sleep_phase_5_min": PHASES_NIGHT,
        "sleep_score_delta": 1,
        "time_in_bed": 11_100,
        "total_sleep_duration": 9_360,
        "type": "long_sleep",
        "ring_id": "ring-abc",
        "app_sleep_phase_5_min": None,
    }
    body.update(overrides)
    return body


NIGHT = sleep_period()

NAP = sleep_period(
    id="c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e02",
    type="sleep",
    period=2,
    bedtime_start="2026-11-20T15:00:00-05:00",
    bedtime_end="2026-11-20T15:40:00-05:00",
    time_in_bed=2_400,
    total_sleep_duration=1_800,
    awake_time=600,
    light_sleep_duration=1_500,
    deep_sleep_duration=300,
    rem_sleep_duration=0,
    latency=420,
    efficiency=75,
    lowest_heart_rate=58,
    average_hrv=39,
    readiness=None,
    sleep_phase_5_min="44222214",
)

REST = sleep_period(
    id="c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e03",
    type="rest",
    period=3,
    bedtime_start="2026-11-20T19:00:00-05:00",
    bedtime_end="2026-11-20T19:30:00-05:00",
    time_in_bed=1_800,
    lowest_heart_rate=40,
)

DELETED = sleep_period(
    id="c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e04",
    type="deleted",
    period=4,
    bedtime_start="2026-11-20T20:00:00-05:00",
    bedtime_end="2026-11-20T22:00:00-05:00",
    time_in_bed=7_200,
)

UNSCORED_NIGHT = sleep_period(
    id="c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e05",
    day="2026-11-19",
    bedtime_start="2026-11-18T23:40:00-05:00",
    bedtime_end="2026-11-19T06:20:00-05:00",
    time_in_bed=24_000,
    total_sleep_duration=None,
    awake_time=None,
    light_sleep_duration=None,
    deep_sleep_duration=None,
    rem_sleep_duration=None,
    latency=None,
    efficiency=None,
    average_heart_rate=None,
    lowest_heart_rate=None,
    average_hrv=None,
    average_breath=None,
    heart_rate=None,
    hrv=None,
    readiness=None,
    restless_periods=None,
    sleep_phase_5_min=None,
    low_battery_alert=True,
)

TRAVEL_NIGHT = sleep_period(
    id="c1a7d4a2-8c39-4b0f-9d4e-0f7c1b2a3e06",
    day="2026-11-18",
    bedtime_start="2026-11-17T18:50:00-05:00",
    bedtime_end="2026-11-18T07:35:00+01:00",
    time_in_bed=24_300,
    total_sleep_duration=19_800,
    sleep_phase_5_min="4422",
    lowest_heart_rate=49,
    average_hrv=55,
    average_breath=15.0,
)

PERIODS = [TRAVEL_NIGHT, UNSCORED_NIGHT, NIGHT, NAP, REST, DELETED]


def daily_sleep(day: str, score: int | None, **overrides: Any) -> dict[str, Any]:
    """A ``PublicDailySleep``."""
    body: dict[str, Any] = {
        "id": f"ds-{day}",
        "contributors": {
            "deep_sleep": 90,
            "efficiency": 84,
            "latency": 88,
            "rem_sleep": 70,
            "restfulness": 66,
            "timing": 95,
            "total_sleep": 61,
        },
        "day": day,
        "score": score,
        "timestamp": f"{day}T00:00:00.000-05:00",
    }
    body.update(overrides)
    return body


DAILY_SLEEPS = [
    daily_sleep("2026-11-18", 77),
    daily_sleep("2026-11-19", None),
    daily_sleep("2026-11-20", 81),
]


def daily_readiness(day: str, **overrides: Any) -> dict[str, Any]:
    """A ``PublicDailyReadiness`` with two contributors left empty."""
    body: dict[str, Any] = {
        "id": f"dr-{day}",
        "contributors": {
            "activity_balance": 80,
            "body_temperature": 97,
            "hrv_balance": 71,
            "previous_day_activity": None,
            "previous_night": 85,
            "recovery_index": 90,
            "resting_heart_rate": 88,
            "sleep_balance": 79,
            "sleep_regularity": None,
        },
        "day": day,
        "score": 82,
        "temperature_deviation": -0.12,
        "temperature_trend_deviation": 0.05,
        "timestamp": f"{day}T00:00:00.000-05:00",
    }
    body.update(overrides)
    return body


def daily_activity(day: str, **overrides: Any) -> dict[str, Any]:
    """A ``PublicDailyActivity`` (every required field)."""
    body: dict[str, Any] = {
        "id": f"da-{day}",
        "active_calories": 512,
        "average_met_minutes": 1.53125,
        "class_5_min": "0011122233334444555",
        "contributors": {
            "meet_daily_targets": 60,
            "move_every_hour": 100,
            "recovery_time": 95,
            "stay_active": 78,
            "training_frequency": None,
            "training_volume": 96,
        },
        "day": day,
        "equivalent_walking_distance": 9_876,
        "high_activity_met_minutes": 28,
        "high_activity_time": 480,
        "inactivity_alerts": 1,
        "low_activity_met_minutes": 210,
        "low_activity_time": 13_200,
        "medium_activity_met_minutes": 140,
        "medium_activity_time": 2_700,
        "met": {
            "interval": 60.0,
            "items": [0.9, 1.2, 3.4],
            "timestamp": f"{day}T04:00:00.000-05:00",
        },
        "meters_to_target": 1_200,
        "non_wear_time": 3_600,
        "resting_time": 30_000,
        "score": 84,
        "sedentary_met_minutes": 12,
        "sedentary_time": 33_000,
        "steps": 10_432,
        "target_calories": 550,
        "target_meters": 10_000,
        "timestamp": f"{day}T04:00:00.000-05:00",
        "total_calories": 2_640,
    }
    body.update(overrides)
    return body


def workout(**overrides: Any) -> dict[str, Any]:
    """A ``PublicWorkout``."""
    body: dict[str, Any] = {
        "id": "w-2026-11-20-run",
        "activity": "running",
        "calories": 431.5,
        "day": "2026-11-20",
        "distance": 7_420.0,
        "end_datetime": "2026-11-20T18:52:00-05:00",
        "intensity": "hard",
        "label": None,
        "source": "confirmed",
        "start_datetime": "2026-11-20T18:05:00-05:00",
    }
    body.update(overrides)
    return body


def daily_spo2(day: str, average: float | None = 96.4, bdi: int | None = 9) -> dict[str, Any]:
    """A ``PublicDailySpO2``."""
    return {
        "id": f"spo2-{day}",
        "breathing_disturbance_index": bdi,
        "day": day,
        "spo2_percentage": {"average": average} if average is not None else None,
    }


def daily_stress(
    day: str, stress_s: int | None = 5_400, recovery_s: int | None = 3_600
) -> dict[str, Any]:
    """A ``PublicDailyStress``."""
    return {
        "id": f"stress-{day}",
        "day": day,
        "day_summary": "normal",
        "recovery_high": recovery_s,
        "stress_high": stress_s,
    }


def vo2_max(day: str, value: int = 44) -> dict[str, Any]:
    """A ``PublicVO2Max``."""
    return {
        "id": f"vo2-{day}",
        "day": day,
        "timestamp": f"{day}T07:00:00.000-05:00",
        "vo2_max": value,
    }


PERSONAL_INFO: dict[str, Any] = {
    "id": "oura-user-7f3a",
    "age": 34,
    "weight": 71.5,
    "height": 1.78,
    "biological_sex": "female",
    "email": "alex@example.com",
}

SESSION: dict[str, Any] = {
    "id": "session-1",
    "day": "2026-11-20",
    "end_datetime": "2026-11-20T12:10:00-05:00",
    "heart_rate": None,
    "heart_rate_variability": None,
    "mood": "good",
    "motion_count": None,
    "start_datetime": "2026-11-20T12:00:00-05:00",
    "type": "meditation",
}

HEART_RATE_ROW: dict[str, Any] = {
    "timestamp": "2026-11-20T17:00:00+00:00",
    "timestamp_unix": 1_795_194_000_000,
    "bpm": 61,
    "source": "awake",
}


def page(data: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    """A ``MultiDocumentResponse`` page."""
    return {"data": data, "next_token": next_token}
