"""Workout: one bout of activity."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from wellpipe.core.models.common import ScoredRecord

__all__ = ["HeartRateZones", "Workout", "WorkoutScore"]


class HeartRateZones(BaseModel):
    """Minutes spent in each heart-rate zone (zone 0 is the lightest)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    zone_0_min: float = Field(ge=0)
    zone_1_min: float = Field(ge=0)
    zone_2_min: float = Field(ge=0)
    zone_3_min: float = Field(ge=0)
    zone_4_min: float = Field(ge=0)
    zone_5_min: float = Field(ge=0)


class WorkoutScore(BaseModel):
    """A workout's measurements. A field the provider lacks is ``None``, never zero."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    strain: float | None = Field(default=None, ge=0, le=21, description="WHOOP's 0-21 scale")
    energy_kcal: float | None = Field(default=None, ge=0)
    avg_heart_rate_bpm: int | None = Field(default=None, ge=0)
    max_heart_rate_bpm: int | None = Field(default=None, ge=0)
    heart_rate_recorded_pct: float | None = Field(default=None, ge=0, le=100)
    distance_m: float | None = Field(default=None, ge=0)
    altitude_gain_m: float | None = None
    altitude_change_m: float | None = None
    steps: int | None = Field(default=None, ge=0)
    active_zone_min: float | None = Field(
        default=None, ge=0, description="Fitbit active zone minutes (cardio and peak count double)"
    )
    intensity: str | None = Field(default=None, description="the provider's label: easy, hard")
    heart_rate_zones: HeartRateZones | None = None


class Workout(ScoredRecord[WorkoutScore]):
    """One workout. Its ``day`` is the local day it started on, even if it ran past midnight."""

    kind: Literal["workout"] = "workout"
    end: AwareDatetime
    sport: str = Field(description="the provider's sport name, e.g. 'running'")
