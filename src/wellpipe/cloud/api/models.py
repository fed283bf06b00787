"""What the REST API answers: the core records (the same data the MCP tools read), wrapped."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    DaySummary,
    Profile,
    Recovery,
    Sleep,
    Workout,
)

__all__ = [
    "CycleList",
    "HealthAnswer",
    "HealthType",
    "ProfileAnswer",
    "RecordAnswer",
    "RecordKind",
    "RecoveryList",
    "SleepList",
    "SummaryList",
    "UsageAnswer",
    "WorkoutList",
]


class HealthType(StrEnum):
    """What ``GET /api/v1/health`` reads."""

    SUMMARY = "summary"
    SLEEP = "sleep"
    RECOVERY = "recovery"
    WORKOUT = "workout"
    CYCLE = "cycle"
    PROFILE = "profile"


class RecordKind(StrEnum):
    """Kinds of record that have ids."""

    SLEEP = "sleep"
    RECOVERY = "recovery"
    WORKOUT = "workout"
    CYCLE = "cycle"


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Listing(_Answer):
    provider: str = Field(description="Where the data comes from, e.g. `whoop`.")
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    count: int = Field(ge=0, description="How many records are listed.")


class SleepList(_Listing):
    """Sleeps and naps, each on the local day the sleeper woke up, oldest first."""

    type: Literal["sleep"] = "sleep"
    records: list[Sleep]


class RecoveryList(_Listing):
    """Recoveries, each on the day of the sleep it was measured over, oldest first."""

    type: Literal["recovery"] = "recovery"
    records: list[Recovery]


class WorkoutList(_Listing):
    """Workouts, each on the local day it started, oldest first."""

    type: Literal["workout"] = "workout"
    records: list[Workout]


class CycleList(_Listing):
    """Physiological cycles (day strain), each on its waking day, oldest first."""

    type: Literal["cycle"] = "cycle"
    records: list[Cycle]


class SummaryList(_Answer):
    """One entry per local day (days without data included), oldest first."""

    type: Literal["summary"] = "summary"
    provider: str = Field(description="Where the data comes from, e.g. `whoop`.")
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    days: list[DaySummary]


class ProfileAnswer(_Answer):
    """Who the data belongs to."""

    type: Literal["profile"] = "profile"
    provider: str = Field(description="Where the data comes from, e.g. `whoop`.")
    profile: Profile
    body_measurement: BodyMeasurement | None = Field(
        default=None, description="Height, weight and maximum heart rate, when recorded."
    )


class RecordAnswer(_Answer):
    """Every field of one record."""

    type: Literal["record"] = "record"
    record: Annotated[Sleep | Recovery | Workout | Cycle, Field(discriminator="kind")]


HealthAnswer = Annotated[
    SummaryList | SleepList | RecoveryList | WorkoutList | CycleList | ProfileAnswer,
    Field(discriminator="type"),
]
"""What ``GET /api/v1/health`` answers, by ``type``."""


class UsageAnswer(_Answer):
    """The caller's use of the API this month (reading it is not counted)."""

    plan: str = Field(description="`FREE` or `PRO`.")
    period: str = Field(description="The calendar month (UTC) being counted, `YYYY-MM`.")
    month_count: int = Field(ge=0, description="Counted requests so far this month.")
    limit: int | None = Field(description="Counted requests allowed per month; null: no cap.")
    remaining: int | None = Field(description="Requests left this month; null: no cap.")
    reset_at: datetime = Field(description="When the monthly count starts again (UTC).")
    burst_per_minute: int = Field(description="Counted requests allowed per minute.")
