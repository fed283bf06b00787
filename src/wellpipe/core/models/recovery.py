"""Recovery: how ready the body is, measured over the night's sleep."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wellpipe.core.models.common import ScoredRecord

__all__ = ["Recovery", "RecoveryScore"]


class RecoveryScore(BaseModel):
    """A recovery's measurements."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    recovery_score_pct: float = Field(ge=0, le=100)
    resting_heart_rate_bpm: float = Field(ge=0)
    hrv_rmssd_ms: float = Field(ge=0, description="heart rate variability (RMSSD), milliseconds")
    spo2_pct: float | None = Field(default=None, ge=0, le=100)
    skin_temp_celsius: float | None = None
    calibrating: bool = Field(
        description="the provider is still learning this person's baseline; read the score loosely"
    )


class Recovery(ScoredRecord[RecoveryScore]):
    """One recovery, measured over a sleep: its interval and ``day`` are that sleep's.

    Attributes:
        sleep_source_id: The provider's id of that sleep.
        cycle_source_id: The provider's id of the physiological cycle it belongs
            to, where the provider has cycles.
    """

    kind: Literal["recovery"] = "recovery"
    sleep_source_id: str
    cycle_source_id: str | None = None
