"""Records that belong to a whole local day: readiness, activity and vital signs.

Each provider decides which day a value belongs to by its own rule (Oura's
``day``, Google's civil date); the mapping keeps that day as it is. A field the
provider does not measure is ``None``, never zero.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wellpipe.core.models.common import Record

__all__ = ["DailyActivity", "DailyVitals", "Readiness"]


class Readiness(Record):
    """Oura's daily readiness: how prepared the body is, 0-100, with its contributors.

    Not the same thing as WHOOP's recovery. Readiness weighs the previous
    night, sleep balance, activity balance, temperature and HRV balance against
    the person's own baselines; WHOOP's recovery is computed from HRV, resting
    heart rate, respiratory rate and sleep. Compare each with itself over time,
    not with the other.

    Attributes:
        score_pct: The readiness score, ``None`` while the provider has not scored the day.
        contributors: Each contributor's own 1-100 score by Oura's name for it
            (``hrv_balance``, ``previous_night``...). Contributors the provider
            left empty are absent.
        temperature_deviation_celsius: Skin temperature against the personal baseline.
        temperature_trend_deviation_celsius: The same, over the last few days.
    """

    kind: Literal["readiness"] = "readiness"
    score_pct: float | None = Field(default=None, ge=0, le=100)
    contributors: dict[str, int] = Field(default_factory=dict)
    temperature_deviation_celsius: float | None = None
    temperature_trend_deviation_celsius: float | None = None


class DailyActivity(Record):
    """How much one local day moved.

    Attributes:
        steps: Steps counted (merged across the provider's sources, never summed twice).
        distance_m: Distance covered, metres.
        active_energy_kcal: Energy burned by activity.
        total_energy_kcal: Energy burned in all, resting included.
        active_zone_min: Fitbit's active zone minutes (a cardio or peak minute counts two).
        high_activity_min: Minutes of vigorous activity.
        medium_activity_min: Minutes of moderate activity.
        low_activity_min: Minutes of light activity.
        sedentary_min: Minutes sitting still while awake.
        activity_score_pct: The provider's own 0-100 activity score (Oura).
    """

    kind: Literal["activity"] = "activity"
    steps: int | None = Field(default=None, ge=0)
    distance_m: float | None = Field(default=None, ge=0)
    active_energy_kcal: float | None = Field(default=None, ge=0)
    total_energy_kcal: float | None = Field(default=None, ge=0)
    active_zone_min: float | None = Field(default=None, ge=0)
    high_activity_min: float | None = Field(default=None, ge=0)
    medium_activity_min: float | None = Field(default=None, ge=0)
    low_activity_min: float | None = Field(default=None, ge=0)
    sedentary_min: float | None = Field(default=None, ge=0)
    activity_score_pct: float | None = Field(default=None, ge=0, le=100)


class DailyVitals(Record):
    """One local day's vital signs, each as the provider measured it (mostly overnight).

    Attributes:
        resting_heart_rate_bpm: Resting heart rate.
        resting_heart_rate_awake_only: Whether the provider computed the resting heart
            rate from awake data only (no sleep was tracked that day), which reads higher
            than one measured over sleep (Fitbit says which; ``None`` when not said).
        hrv_rmssd_ms: Heart rate variability (RMSSD) of the night, milliseconds.
        spo2_pct: Average blood oxygen saturation.
        respiratory_rate_per_min: Breaths per minute during sleep.
        skin_temp_celsius: Nightly skin temperature, absolute.
        skin_temp_deviation_celsius: Nightly skin temperature against the personal baseline.
        vo2_max_ml_kg_min: Estimated VO2 max (cardio fitness).
        weight_kg: Weight logged that day.
        breathing_disturbance_index: Oura's 0-100 index of disturbed breathing.
        stress_high_min: Minutes of high stress (Oura).
        recovery_high_min: Minutes of high recovery (Oura).
    """

    kind: Literal["vitals"] = "vitals"
    resting_heart_rate_bpm: float | None = Field(default=None, ge=0)
    resting_heart_rate_awake_only: bool | None = None
    hrv_rmssd_ms: float | None = Field(default=None, ge=0)
    spo2_pct: float | None = Field(default=None, ge=0, le=100)
    respiratory_rate_per_min: float | None = Field(default=None, ge=0)
    skin_temp_celsius: float | None = None
    skin_temp_deviation_celsius: float | None = None
    vo2_max_ml_kg_min: float | None = Field(default=None, ge=0)
    weight_kg: float | None = Field(default=None, gt=0)
    breathing_disturbance_index: float | None = Field(default=None, ge=0, le=100)
    stress_high_min: float | None = Field(default=None, ge=0)
    recovery_high_min: float | None = Field(default=None, ge=0)
