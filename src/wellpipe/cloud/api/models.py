"""What the REST API answers: the core records (the same data the MCP tools read), wrapped."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    DailyActivity,
    DailyVitals,
    DaySummary,
    Profile,
    Readiness,
    Recovery,
    Sleep,
    Workout,
)

__all__ = [
    "ActivityList",
    "CycleList",
    "HealthAnswer",
    "HealthType",
    "ProfileAnswer",
    "ReadinessList",
    "RecordAnswer",
    "RecordKind",
    "RecoveryList",
    "SleepList",
    "SummaryList",
    "UsageAnswer",
    "VitalsList",
    "WorkoutList",
]


class HealthType(StrEnum):
    """What ``GET /api/v1/health`` reads."""

    SUMMARY = "summary"
    SLEEP = "sleep"
    RECOVERY = "recovery"
    WORKOUT = "workout"
    CYCLE = "cycle"
    READINESS = "readiness"
    ACTIVITY = "activity"
    VITALS = "vitals"
    PROFILE = "profile"


class RecordKind(StrEnum):
    """Kinds of record that have ids."""

    SLEEP = "sleep"
    RECOVERY = "recovery"
    WORKOUT = "workout"
    CYCLE = "cycle"
    READINESS = "readiness"
    ACTIVITY = "activity"
    VITALS = "vitals"


_PROVIDER = (
    "Where the data comes from: a provider name such as `whoop`, or `all` when several "
    "connected providers answer together (each record and day then names its own)."
)
_SOURCES = "The providers that answered, by name."
_NOTES = (
    "Sentences about data that could not be read while the rest could (a permission "
    "not granted, a provider that must be reconnected)."
)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Listing(_Answer):
    provider: str = Field(description=_PROVIDER)
    sources: list[str] = Field(default_factory=list, description=_SOURCES)
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    count: int = Field(ge=0, description="How many records are listed.")
    notes: list[str] = Field(default_factory=list, description=_NOTES)


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


class ReadinessList(_Listing):
    """Daily readiness (Oura), one per local day, oldest first."""

    type: Literal["readiness"] = "readiness"
    records: list[Readiness]


class ActivityList(_Listing):
    """Daily activity (steps, distance, energy, active minutes), oldest first."""

    type: Literal["activity"] = "activity"
    records: list[DailyActivity]


class VitalsList(_Listing):
    """Daily vital signs (resting heart rate, HRV, SpO2, breathing, temperature), oldest first."""

    type: Literal["vitals"] = "vitals"
    records: list[DailyVitals]


class SummaryList(_Answer):
    """One entry per local day (days without data included), oldest first."""

    type: Literal["summary"] = "summary"
    provider: str = Field(description=_PROVIDER)
    sources: list[str] = Field(default_factory=list, description=_SOURCES)
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    days: list[DaySummary] = Field(
        description="With several sources, one entry per day and source (`provider` "
        "says which); a day with nothing from any source keeps one empty entry."
    )
    notes: list[str] = Field(default_factory=list, description=_NOTES)


class ProfileAnswer(_Answer):
    """Who the data belongs to."""

    type: Literal["profile"] = "profile"
    provider: str = Field(description="Where the profile comes from, e.g. `whoop`.")
    profile: Profile
    body_measurement: BodyMeasurement | None = Field(
        default=None, description="Height, weight and maximum heart rate, when recorded."
    )
    notes: list[str] = Field(default_factory=list, description=_NOTES)


class RecordAnswer(_Answer):
    """Every field of one record."""

    type: Literal["record"] = "record"
    record: Annotated[
        Sleep | Recovery | Workout | Cycle | Readiness | DailyActivity | DailyVitals,
        Field(discriminator="kind"),
    ]


HealthAnswer = Annotated[
    SummaryList
    | SleepList
    | RecoveryList
    | WorkoutList
    | CycleList
    | ReadinessList
    | ActivityList
    | VitalsList
    | ProfileAnswer,
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
