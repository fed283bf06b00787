"""Sleep: a main sleep or a nap, with its stages."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from wellpipe.core.models.common import ScoredRecord

__all__ = ["Sleep", "SleepScore", "SleepStage", "StageSegment"]


class SleepStage(StrEnum):
    """What the sleeper was doing in one segment of the night.

    Stage-tracking devices report awake, light, deep and REM. Older or
    "classic" sleep logs (Fitbit without enough heart-rate data) only tell
    asleep, restless and awake.
    """

    AWAKE = "awake"
    LIGHT = "light"
    DEEP = "deep"
    REM = "rem"
    ASLEEP = "asleep"
    """Classic sleep: asleep, stage unknown."""
    RESTLESS = "restless"
    """Classic sleep: restless."""


class StageSegment(BaseModel):
    """One contiguous stretch of a single stage."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    stage: SleepStage
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("a stage segment must end after it starts")
        return self

    @property
    def duration_min(self) -> float:
        """Minutes in this segment."""
        return (self.end - self.start).total_seconds() / 60


class SleepScore(BaseModel):
    """What the provider measured during a sleep. Durations are in minutes.

    A field the provider does not measure is ``None``, never zero.
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    in_bed_duration_min: float = Field(ge=0)
    asleep_duration_min: float = Field(ge=0, description="light + deep + REM (or classic asleep)")
    awake_duration_min: float | None = Field(default=None, ge=0)
    light_sleep_duration_min: float | None = Field(default=None, ge=0)
    deep_sleep_duration_min: float | None = Field(default=None, ge=0, description="slow-wave")
    rem_sleep_duration_min: float | None = Field(default=None, ge=0)
    no_data_duration_min: float | None = Field(
        default=None, ge=0, description="time the sensor sent nothing"
    )
    sleep_cycle_count: int | None = Field(default=None, ge=0)
    disturbance_count: int | None = Field(default=None, ge=0)
    latency_min: float | None = Field(default=None, ge=0, description="time to fall asleep")
    sleep_need_min: float | None = Field(
        default=None, description="sleep the body needed, debt and strain included (WHOOP)"
    )
    sleep_performance_pct: float | None = Field(
        default=None, ge=0, le=100, description="asleep time against sleep need (WHOOP)"
    )
    sleep_score_pct: float | None = Field(
        default=None, ge=0, le=100, description="the provider's own 0-100 sleep score (Oura)"
    )
    sleep_consistency_pct: float | None = Field(default=None, ge=0, le=100)
    sleep_efficiency_pct: float | None = Field(default=None, ge=0, le=100)
    respiratory_rate_per_min: float | None = Field(default=None, ge=0)
    avg_heart_rate_bpm: float | None = Field(default=None, ge=0)
    lowest_heart_rate_bpm: float | None = Field(default=None, ge=0)
    avg_hrv_rmssd_ms: float | None = Field(
        default=None, ge=0, description="average heart rate variability (RMSSD) over the sleep"
    )


class Sleep(ScoredRecord[SleepScore]):
    """One sleep. Its ``day`` is the local day the sleeper woke up on.

    Attributes:
        nap: A short daytime sleep rather than the night's sleep.
        stages: The night segment by segment, oldest first, when the provider
            gives a timeline (empty otherwise).
    """

    kind: Literal["sleep"] = "sleep"
    end: AwareDatetime
    nap: bool
    stages: tuple[StageSegment, ...] = ()
