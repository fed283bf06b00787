"""Sleep: a main sleep or a nap, with its stages."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from wellpipe.core.models.common import ScoredRecord

__all__ = ["Sleep", "SleepScore"]


class SleepScore(BaseModel):
    """What the provider measured during a sleep. Durations are in minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_bed_duration_min: float = Field(ge=0)
    asleep_duration_min: float = Field(ge=0, description="light + deep + REM")
    awake_duration_min: float = Field(ge=0)
    light_sleep_duration_min: float = Field(ge=0)
    deep_sleep_duration_min: float = Field(ge=0, description="slow-wave sleep")
    rem_sleep_duration_min: float = Field(ge=0)
    no_data_duration_min: float = Field(ge=0, description="time the sensor sent nothing")
    sleep_cycle_count: int = Field(ge=0)
    disturbance_count: int = Field(ge=0)
    sleep_need_min: float | None = Field(
        default=None, description="sleep the body needed, debt and strain included"
    )
    sleep_performance_pct: float | None = Field(default=None, ge=0, le=100)
    sleep_consistency_pct: float | None = Field(default=None, ge=0, le=100)
    sleep_efficiency_pct: float | None = Field(default=None, ge=0, le=100)
    respiratory_rate_per_min: float | None = Field(default=None, ge=0)


class Sleep(ScoredRecord[SleepScore]):
    """One sleep. Its ``day`` is the local day the sleeper woke up on."""

    kind: Literal["sleep"] = "sleep"
    end: AwareDatetime
    nap: bool
