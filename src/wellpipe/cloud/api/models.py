"""What the REST API answers: the MCP tools' tables as JSON, or every field on request.

By default (``detail=compact``) a listing carries exactly what the MCP tool's table
carries, one object per row: numbers rounded to what a person reads, local ``HH:MM``
times, a state instead of metrics for a pending or unscorable record, and no empty
fields (an absent field means the provider does not measure it). ``detail=full`` gives
the core records with every field (ISO times, stage timelines, unrounded values).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

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
from wellpipe.mcp.answers import SourceProfile
from wellpipe.mcp.tables import KINDS, SUMMARY_COLUMNS

__all__ = [
    "COLUMN_NOTES",
    "COMPACT_LISTS",
    "COMPACT_ROWS",
    "CompactList",
    "Detail",
    "FullList",
    "FullProfile",
    "FullProfileAnswer",
    "HealthType",
    "ProfileAnswer",
    "RecordAnswer",
    "RecordKind",
    "UsageAnswer",
    "compact_rows",
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


class Detail(StrEnum):
    """How much of each record an answer carries."""

    COMPACT = "compact"
    FULL = "full"


COLUMN_NOTES: dict[str, str] = {
    "day": "The local day (YYYY-MM-DD), by the provider's day rule.",
    "source": "The provider this row comes from (several were read).",
    "utc_offset": "The UTC offset of this row's local times (rows differ: travel).",
    "start": "Local start time, HH:MM.",
    "end": "Local end time, HH:MM (`now` for a cycle still open).",
    "nap": "Whether it was a nap.",
    "state": "`scored`; `pending` or `unscorable` records carry no metrics.",
    "id": "The provider's id of the record, for /records/{kind}/{id}.",
    "sport": "The activity, as the provider names it.",
    "strain": "WHOOP strain, 0-21.",
    "day_strain": "WHOOP day strain, 0-21 (or the cycle's state).",
    "workouts": "The day's workouts, with strain where there is one.",
    "calibrating": "Whether WHOOP is still calibrating.",
    "disturbance_count": "Sleep disturbances.",
    "steps": "Steps.",
    "breathing_disturbance_index": "Oura's breathing disturbance index.",
}
"""What each table column means, where its name does not say it (units are in the names)."""

_UNITS = {
    "_min": "minutes",
    "_pct": "percent",
    "_bpm": "beats per minute",
    "_ms": "milliseconds",
    "_kcal": "kilocalories",
    "_m": "metres",
    "_kg": "kilograms",
    "_celsius": "degrees Celsius",
    "_per_min": "per minute",
    "_ml_kg_min": "ml/kg/min",
}

Cell = str | int | float | bool


def _column_note(column: str) -> str:
    if column in COLUMN_NOTES:
        return COLUMN_NOTES[column]
    for suffix, unit in sorted(_UNITS.items(), key=lambda item: -len(item[0])):
        if column.endswith(suffix):
            what = column.removesuffix(suffix).replace("_", " ")
            return f"{what.capitalize()}, in {unit} (or the record's state when not scored)."
    return column.replace("_", " ").capitalize() + "."


def _row_model(kind: str, columns: tuple[str, ...]) -> type[BaseModel]:
    """One table row as an object: every column optional (absent: not measured)."""
    every = ("day", "source", "utc_offset", *(c for c in columns if c != "day"))
    fields: dict[str, Any] = {
        column: (Cell | None, Field(default=None, description=_column_note(column)))
        for column in every
    }
    model: type[BaseModel] = create_model(
        f"{kind.capitalize()}Row",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"One {kind} row, as the MCP tool's table shows it.",
        **fields,
    )
    return model


COMPACT_ROWS: dict[str, type[BaseModel]] = {
    "summary": _row_model("summary", SUMMARY_COLUMNS),
    **{kind: _row_model(kind, columns) for kind, (columns, _) in KINDS.items()},
}
"""Each table kind's row model (what ``detail=compact`` lists)."""


def compact_rows(columns: tuple[str, ...], rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Table rows as objects, without their empty cells."""
    return [
        {column: cell for column, cell in zip(columns, row, strict=True) if cell is not None}
        for row in rows
    ]


_PROVIDER = (
    "Where the data comes from: a provider name such as `whoop`, or `all` when several "
    "connected providers answer together (each row then names its `source`)."
)
_SOURCES = "The providers that answered, by name."
_NOTES = (
    "Sentences about data that could not be read while the rest could (a permission "
    "not granted, a provider that must be reconnected), each saying what to do."
)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


TableType = Literal[
    "summary", "sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals"
]


class CompactList(_Answer):
    """Rows of one kind (or one per day for the summary), oldest first.

    As the MCP tools show them: rounded, local times, no empty fields.
    """

    type: TableType
    detail: Literal["compact"] = "compact"
    provider: str = Field(description=_PROVIDER)
    sources: list[str] = Field(default_factory=list, description=_SOURCES)
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    utc_offset: str | None = Field(
        default=None, description="The UTC offset of every local time, when all rows share one."
    )
    count: int = Field(ge=0, description="How many rows are listed.")
    records: list[Any] = Field(description="One object per row (a missing field: not measured).")
    notes: list[str] = Field(default_factory=list, description=_NOTES)


_ROW_NOTE = "One object per row (a missing field: not measured by that provider)."


def _compact_list(kind: str, row: type[BaseModel]) -> type[CompactList]:
    model: type[CompactList] = create_model(
        f"{kind.capitalize()}Table",
        __base__=CompactList,
        __doc__=(
            f"{'Daily summary' if kind == 'summary' else kind.capitalize()} rows, oldest first, "
            "as the MCP tool's table shows them: rounded, local times, no empty fields."
        ),
        # Built at import, one model per kind: mypy cannot see types made from values.
        type=(Literal[kind], kind),  # type: ignore[arg-type]
        records=(list[row], Field(description=_ROW_NOTE)),  # type: ignore[valid-type]
    )
    return model


COMPACT_LISTS: dict[str, type[CompactList]] = {
    kind: _compact_list(kind, row) for kind, row in COMPACT_ROWS.items()
}
"""Each table kind's compact listing (the default answer)."""


AnyRecord = Annotated[
    Sleep | Recovery | Workout | Cycle | Readiness | DailyActivity | DailyVitals,
    Field(discriminator="kind"),
]


class FullList(_Answer):
    """Every field of every record (``detail=full``), oldest first; the summary as full days."""

    type: TableType
    detail: Literal["full"] = "full"
    provider: str = Field(description=_PROVIDER)
    sources: list[str] = Field(default_factory=list, description=_SOURCES)
    first_day: date = Field(description="First local day covered (YYYY-MM-DD).")
    last_day: date = Field(description="Last local day covered, included.")
    count: int = Field(ge=0, description="How many records (or days) are listed.")
    records: list[AnyRecord] = Field(default_factory=list, description="The records.")
    days: list[DaySummary] = Field(
        default_factory=list,
        description="The summary's days (type `summary` only): one per day and source.",
    )
    notes: list[str] = Field(default_factory=list, description=_NOTES)


class ProfileAnswer(_Answer):
    """Who the data belongs to, one entry per connected provider (as `get-profile` shows)."""

    type: Literal["profile"] = "profile"
    detail: Literal["compact"] = "compact"
    provider: str = Field(description=_PROVIDER)
    sources: list[SourceProfile] = Field(description="One entry per provider, as get-profile.")
    notes: list[str] = Field(default_factory=list, description=_NOTES)


class FullProfile(_Answer):
    """One provider's profile and body measurement, every field."""

    provider: str
    profile: Profile
    body_measurement: BodyMeasurement | None = None


class FullProfileAnswer(_Answer):
    """Every field of each provider's profile (``detail=full``)."""

    type: Literal["profile"] = "profile"
    detail: Literal["full"] = "full"
    provider: str = Field(description=_PROVIDER)
    sources: list[FullProfile]
    notes: list[str] = Field(default_factory=list, description=_NOTES)


class RecordAnswer(_Answer):
    """Every field of one record (a sleep's stage timeline included), as `get-record` shows."""

    type: Literal["record"] = "record"
    provider: str = Field(description="The provider that had the record.")
    record: AnyRecord


class UsageAnswer(_Answer):
    """The caller's use of the API this month (reading it is not counted)."""

    plan: str = Field(description="`FREE` or `PRO`.")
    period: str = Field(description="The calendar month (UTC) being counted, `YYYY-MM`.")
    month_count: int = Field(ge=0, description="Counted requests so far this month.")
    limit: int | None = Field(description="Counted requests allowed per month; null: no cap.")
    remaining: int | None = Field(description="Requests left this month; null: no cap.")
    reset_at: datetime = Field(description="When the monthly count starts again (UTC).")
    burst_per_minute: int = Field(description="Counted requests allowed per minute.")
