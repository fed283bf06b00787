"""Oura API v2 JSON, field for field as Oura's OpenAPI document (1.35) defines it.

Field names are Oura's. Parsing is strict (a string where Oura promises an
integer is an error, not a guess), unknown fields are ignored so Oura can add
fields without breaking anyone, and a field is optional exactly where the spec
makes it nullable or leaves it out of ``required``.

Times: Oura's ``LocalizedDateTime`` fields carry the member's UTC offset
(``2026-11-21T07:12:00+01:00``); ``day`` is the member's local date.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "DocumentPage",
    "HeartRateSource",
    "MomentMood",
    "MomentType",
    "PersonalInfo",
    "PublicActivityContributors",
    "PublicDailyActivity",
    "PublicDailyReadiness",
    "PublicDailySleep",
    "PublicDailySpO2",
    "PublicDailyStress",
    "PublicHeartRateRow",
    "PublicModifiedSleepModel",
    "PublicReadiness",
    "PublicReadinessContributors",
    "PublicSample",
    "PublicSession",
    "PublicSleepContributors",
    "PublicSpo2AggregatedValues",
    "PublicVO2Max",
    "PublicWorkout",
    "SleepAlgorithmVersion",
    "SleepAnalysisReason",
    "SleepType",
    "StressSummary",
    "TimeSeriesPage",
    "WorkoutIntensity",
    "WorkoutSource",
]


class _Wire(BaseModel):
    model_config = ConfigDict(defer_build=True, strict=True, frozen=True, extra="ignore")


RecordT = TypeVar("RecordT", bound=BaseModel)


class DocumentPage(_Wire, Generic[RecordT]):
    """``MultiDocumentResponse_*``: one page of a collection; a null ``next_token`` ends it."""

    data: list[RecordT]
    next_token: str | None


class TimeSeriesPage(_Wire, Generic[RecordT]):
    """``TimeSeriesResponse_*``: one page of a time series; ``next_token`` may be left out."""

    data: list[RecordT]
    next_token: str | None = None


# ------------------------------------------------------------------ enums
class SleepType(StrEnum):
    """``PublicSleepType``.

    ``long_sleep``: long enough (> 3 h) to count toward the daily scores.
    ``sleep``: a confirmed nap (15 min to 3 h). ``late_nap``: a confirmed nap
    ending after 6 pm, counted toward the next day. ``rest``: falsely detected,
    rejected by the member. ``deleted``: deleted by the member.
    """

    DELETED = "deleted"
    SLEEP = "sleep"
    LONG_SLEEP = "long_sleep"
    LATE_NAP = "late_nap"
    REST = "rest"


class SleepAlgorithmVersion(StrEnum):
    """``PublicSleepAlgorithmVersion``."""

    V1 = "v1"
    V2 = "v2"


class SleepAnalysisReason(StrEnum):
    """``PublicSleepAnalysisReason``."""

    FOREGROUND_SLEEP_ANALYSIS = "foreground_sleep_analysis"
    BEDTIME_EDIT = "bedtime_edit"
    BACKGROUND_SLEEP_ANALYSIS = "background_sleep_analysis"
    BACKGROUND_CREATED_FOREGROUND_UPDATED = "background_created_foreground_updated"


class WorkoutIntensity(StrEnum):
    """``PublicWorkoutIntensity``."""

    EASY = "easy"
    MODERATE = "moderate"
    HARD = "hard"


class WorkoutSource(StrEnum):
    """``PublicWorkoutSource``."""

    MANUAL = "manual"
    AUTODETECTED = "autodetected"
    CONFIRMED = "confirmed"
    WORKOUT_HEART_RATE = "workout_heart_rate"


class MomentMood(StrEnum):
    """``PublicMomentMood``."""

    BAD = "bad"
    WORSE = "worse"
    SAME = "same"
    GOOD = "good"
    GREAT = "great"


class MomentType(StrEnum):
    """``PublicMomentType``."""

    BREATHING = "breathing"
    MEDITATION = "meditation"
    NAP = "nap"
    RELAXATION = "relaxation"
    REST = "rest"
    BODY_STATUS = "body_status"


class StressSummary(StrEnum):
    """``PublicDailyStressSummary``."""

    RESTORED = "restored"
    NORMAL = "normal"
    STRESSFUL = "stressful"


class HeartRateSource(StrEnum):
    """``PublicHeartRateSource``."""

    AWAKE = "awake"
    WORKOUT = "workout"
    REST = "rest"
    SLEEP = "sleep"
    LIVE = "live"
    SESSION = "session"


# ------------------------------------------------------------------ shared parts
class PublicSample(_Wire):
    """``PublicSample``: ``items`` recorded every ``interval`` seconds from ``timestamp``."""

    interval: float
    items: list[float | None]
    timestamp: AwareDatetime


class PublicReadinessContributors(_Wire):
    """``PublicReadinessContributors``: each 1-100, or null."""

    activity_balance: int | None = None
    body_temperature: int | None = None
    hrv_balance: int | None = None
    previous_day_activity: int | None = None
    previous_night: int | None = None
    recovery_index: int | None = None
    resting_heart_rate: int | None = None
    sleep_balance: int | None = None
    sleep_regularity: int | None = None


class PublicReadiness(_Wire):
    """``PublicReadiness`` (the readiness embedded in a sleep period)."""

    contributors: PublicReadinessContributors
    score: int | None = None
    temperature_deviation: float | None = None
    temperature_trend_deviation: float | None = None


class PublicSleepContributors(_Wire):
    """``PublicSleepContributors``: each 1-100, or null."""

    deep_sleep: int | None = None
    efficiency: int | None = None
    latency: int | None = None
    rem_sleep: int | None = None
    restfulness: int | None = None
    timing: int | None = None
    total_sleep: int | None = None


class PublicActivityContributors(_Wire):
    """``PublicActivityContributors``: each 1-100, or null."""

    meet_daily_targets: int | None = None
    move_every_hour: int | None = None
    recovery_time: int | None = None
    stay_active: int | None = None
    training_frequency: int | None = None
    training_volume: int | None = None


# ------------------------------------------------------------------ documents
class PersonalInfo(_Wire):
    """``PersonalInfoResponse``. Weight in kilograms, height in metres."""

    id: str
    age: int | None = None
    weight: float | None = None
    height: float | None = None
    biological_sex: str | None = None
    email: str | None = None


class PublicDailySleep(_Wire):
    """``PublicDailySleep``: the day's sleep score and its contributors."""

    id: str = Field(min_length=1)
    contributors: PublicSleepContributors
    day: date
    score: int | None = None
    timestamp: AwareDatetime


class PublicModifiedSleepModel(_Wire):
    """``PublicModifiedSleepModel``: one sleep period. Durations are seconds."""

    id: str = Field(min_length=1)
    average_breath: float | None = None
    average_heart_rate: float | None = None
    average_hrv: int | None = None
    awake_time: int | None = None
    bedtime_end: AwareDatetime
    bedtime_start: AwareDatetime
    day: date
    deep_sleep_duration: int | None = None
    efficiency: int | None = None
    heart_rate: PublicSample | None = None
    hrv: PublicSample | None = None
    latency: int | None = None
    light_sleep_duration: int | None = None
    low_battery_alert: bool
    lowest_heart_rate: int | None = None
    movement_30_sec: str | None = None
    period: int
    readiness: PublicReadiness | None = None
    readiness_score_delta: int | None = None
    rem_sleep_duration: int | None = None
    restless_periods: int | None = None
    sleep_algorithm_version: SleepAlgorithmVersion | None = None
    sleep_analysis_reason: SleepAnalysisReason | None = None
    sleep_phase_30_sec: str | None = None
    sleep_phase_5_min: str | None = None
    sleep_score_delta: int | None = None
    time_in_bed: int
    total_sleep_duration: int | None = None
    type: SleepType | None = None
    ring_id: str | None = None
    app_sleep_phase_5_min: str | None = None


class PublicDailyReadiness(_Wire):
    """``PublicDailyReadiness``. Temperature deviations in degrees Celsius."""

    id: str = Field(min_length=1)
    contributors: PublicReadinessContributors
    day: date
    score: int | None = None
    temperature_deviation: float | None = None
    temperature_trend_deviation: float | None = None
    timestamp: AwareDatetime


class PublicDailyActivity(_Wire):
    """``PublicDailyActivity``. Times in seconds, energy in kcal, distances in metres."""

    id: str = Field(min_length=1)
    active_calories: int
    average_met_minutes: float
    class_5_min: str | None = None
    contributors: PublicActivityContributors
    day: date
    equivalent_walking_distance: int
    high_activity_met_minutes: int
    high_activity_time: int
    inactivity_alerts: int
    low_activity_met_minutes: int
    low_activity_time: int
    medium_activity_met_minutes: int
    medium_activity_time: int
    met: PublicSample
    meters_to_target: int
    non_wear_time: int
    resting_time: int
    score: int | None = None
    sedentary_met_minutes: int
    sedentary_time: int
    steps: int
    target_calories: int
    target_meters: int
    timestamp: AwareDatetime
    total_calories: int


class PublicWorkout(_Wire):
    """``PublicWorkout``. Calories in kcal, distance in metres."""

    id: str = Field(min_length=1)
    activity: str
    calories: float | None = None
    day: date
    distance: float | None = None
    end_datetime: AwareDatetime
    intensity: WorkoutIntensity
    label: str | None = None
    source: WorkoutSource
    start_datetime: AwareDatetime


class PublicSession(_Wire):
    """``PublicSession``: a guided or unguided Moment in the Oura app."""

    id: str = Field(min_length=1)
    day: date
    end_datetime: AwareDatetime
    heart_rate: PublicSample | None = None
    heart_rate_variability: PublicSample | None = None
    mood: MomentMood | None = None
    motion_count: PublicSample | None = None
    start_datetime: AwareDatetime
    type: MomentType


class PublicSpo2AggregatedValues(_Wire):
    """``PublicSpo2AggregatedValues``."""

    average: float


class PublicDailySpO2(_Wire):
    """``PublicDailySpO2`` (Gen 3 rings and later)."""

    id: str = Field(min_length=1)
    breathing_disturbance_index: int | None = None
    day: date
    spo2_percentage: PublicSpo2AggregatedValues | None = None


class PublicDailyStress(_Wire):
    """``PublicDailyStress``. Times in seconds."""

    id: str = Field(min_length=1)
    day: date
    day_summary: StressSummary | None = None
    recovery_high: int | None = None
    stress_high: int | None = None


class PublicVO2Max(_Wire):
    """``PublicVO2Max`` (ml/kg/min)."""

    id: str = Field(min_length=1)
    day: date
    timestamp: AwareDatetime
    vo2_max: int


class PublicHeartRateRow(_Wire):
    """``PublicHeartRateRow``: one heart-rate sample (UTC ``timestamp``)."""

    timestamp: AwareDatetime
    timestamp_unix: int
    bpm: int
    source: HeartRateSource
