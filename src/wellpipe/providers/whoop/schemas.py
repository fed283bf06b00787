"""WHOOP v2 JSON, field for field as the official OpenAPI document defines it.

Field names are WHOOP's. Parsing is strict (a string where WHOOP promises an
integer is an error, not a guess) and unknown fields are ignored, so WHOOP can
add fields without breaking anyone. The one rule beyond the schema is WHOOP's
documented promise that a ``SCORED`` record carries its ``score``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Generic, Self, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Cycle",
    "CycleScore",
    "Page",
    "PaginatedCycleResponse",
    "PaginatedSleepResponse",
    "Recovery",
    "RecoveryCollection",
    "RecoveryScore",
    "ScoreState",
    "Sleep",
    "SleepNeeded",
    "SleepScore",
    "SleepStageSummary",
    "UserBasicProfile",
    "UserBodyMeasurement",
    "WorkoutCollection",
    "WorkoutScore",
    "WorkoutV2",
    "ZoneDurations",
]

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
TimezoneOffset = Annotated[str, Field(pattern=r"^(Z|[+-]\d{2}:\d{2})$")]
"""A W3C Time Zone Designator: ``+hh:mm``, ``-hh:mm`` or ``Z``."""


class ScoreState(StrEnum):
    """WHOOP's ``score_state``."""

    SCORED = "SCORED"
    PENDING_SCORE = "PENDING_SCORE"
    UNSCORABLE = "UNSCORABLE"


class _Wire(BaseModel):
    model_config = ConfigDict(defer_build=True, strict=True, frozen=True, extra="ignore")


class _Scored(_Wire):
    score_state: ScoreState

    @model_validator(mode="after")
    def _scored_has_score(self) -> Self:
        if self.score_state is ScoreState.SCORED and getattr(self, "score", None) is None:
            raise ValueError("score is missing although score_state is SCORED")
        return self


RecordT = TypeVar("RecordT", bound=BaseModel)


class Page(_Wire, Generic[RecordT]):
    """One page of a collection. No (or an empty) ``next_token`` means the last page."""

    records: list[RecordT] = []
    next_token: str | None = None


# ------------------------------------------------------------------ cycle
class CycleScore(_Wire):
    """``CycleScore``."""

    strain: float
    kilojoule: float
    average_heart_rate: Int32
    max_heart_rate: Int32


class Cycle(_Scored):
    """``Cycle``: one physiological cycle. No ``end`` means it is the current one."""

    id: Int64
    user_id: Int64
    created_at: AwareDatetime
    updated_at: AwareDatetime
    start: AwareDatetime
    end: AwareDatetime | None = None
    timezone_offset: TimezoneOffset
    score: CycleScore | None = None


class PaginatedCycleResponse(Page[Cycle]):
    """``PaginatedCycleResponse``."""


# ------------------------------------------------------------------ sleep
class SleepStageSummary(_Wire):
    """``SleepStageSummary`` (milliseconds and counts)."""

    total_in_bed_time_milli: Int32
    total_awake_time_milli: Int32
    total_no_data_time_milli: Int32
    total_light_sleep_time_milli: Int32
    total_slow_wave_sleep_time_milli: Int32
    total_rem_sleep_time_milli: Int32
    sleep_cycle_count: Int32
    disturbance_count: Int32


class SleepNeeded(_Wire):
    """``SleepNeeded`` (milliseconds; the nap component is zero or negative)."""

    baseline_milli: Int64
    need_from_sleep_debt_milli: Int64
    need_from_recent_strain_milli: Int64
    need_from_recent_nap_milli: Int64


class SleepScore(_Wire):
    """``SleepScore``."""

    stage_summary: SleepStageSummary
    sleep_needed: SleepNeeded
    respiratory_rate: float | None = None
    sleep_performance_percentage: float | None = None
    sleep_consistency_percentage: float | None = None
    sleep_efficiency_percentage: float | None = None


class Sleep(_Scored):
    """``Sleep``: a main sleep or a nap."""

    id: UUID
    cycle_id: Int64
    v1_id: Int64 | None = None
    user_id: Int64
    created_at: AwareDatetime
    updated_at: AwareDatetime
    start: AwareDatetime
    end: AwareDatetime
    timezone_offset: TimezoneOffset
    nap: bool
    score: SleepScore | None = None


class PaginatedSleepResponse(Page[Sleep]):
    """``PaginatedSleepResponse``."""


# ------------------------------------------------------------------ recovery
class RecoveryScore(_Wire):
    """``RecoveryScore``. SpO2 and skin temperature come from WHOOP 4.0 and later only."""

    user_calibrating: bool
    recovery_score: float
    resting_heart_rate: float
    hrv_rmssd_milli: float
    spo2_percentage: float | None = None
    skin_temp_celsius: float | None = None


class Recovery(_Scored):
    """``Recovery``. It has no id of its own: it is keyed by ``cycle_id``."""

    cycle_id: Int64
    sleep_id: UUID
    user_id: Int64
    created_at: AwareDatetime
    updated_at: AwareDatetime
    score: RecoveryScore | None = None


class RecoveryCollection(Page[Recovery]):
    """``RecoveryCollection``."""


# ------------------------------------------------------------------ workout
class ZoneDurations(_Wire):
    """``ZoneDurations`` (milliseconds per heart-rate zone)."""

    zone_zero_milli: Int64
    zone_one_milli: Int64
    zone_two_milli: Int64
    zone_three_milli: Int64
    zone_four_milli: Int64
    zone_five_milli: Int64


class WorkoutScore(_Wire):
    """``WorkoutScore``."""

    strain: float
    average_heart_rate: Int32
    max_heart_rate: Int32
    kilojoule: float
    percent_recorded: float
    distance_meter: float | None = None
    altitude_gain_meter: float | None = None
    altitude_change_meter: float | None = None
    zone_durations: ZoneDurations


class WorkoutV2(_Scored):
    """``WorkoutV2``."""

    id: UUID
    v1_id: Int64 | None = None
    user_id: Int64
    created_at: AwareDatetime
    updated_at: AwareDatetime
    start: AwareDatetime
    end: AwareDatetime
    timezone_offset: TimezoneOffset
    sport_name: str
    score: WorkoutScore | None = None
    sport_id: Int32 | None = None


class WorkoutCollection(Page[WorkoutV2]):
    """``WorkoutCollection``."""


# ------------------------------------------------------------------ user
class UserBasicProfile(_Wire):
    """``UserBasicProfile``."""

    user_id: Int64
    email: str
    first_name: str
    last_name: str


class UserBodyMeasurement(_Wire):
    """``UserBodyMeasurement``."""

    height_meter: float
    weight_kilogram: float
    max_heart_rate: Int32
