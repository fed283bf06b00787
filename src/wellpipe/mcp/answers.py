"""What tools answer: object-rooted structured content, and the same thing as compact text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from wellpipe.mcp.tables import Cell, Table

__all__ = [
    "Answer",
    "ProfileAnswer",
    "RecordAnswer",
    "TableAnswer",
    "profile_answer",
    "record_answer",
    "render_cell",
    "table_answer",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableAnswer(_Out):
    """Rows of one kind (or day summaries) over a range of local days, oldest first."""

    provider: str
    kind: Literal["sleep", "recovery", "workout", "cycle", "summary"]
    first_day: date
    last_day: date
    utc_offset: str | None = Field(
        default=None, description="offset of every local time, when all rows share one"
    )
    columns: list[str]
    rows: list[list[Cell]]


class RecordAnswer(_Out):
    """Every field of one record."""

    record: dict[str, JsonValue]


class ProfileAnswer(_Out):
    """Who the data belongs to."""

    provider: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    max_heart_rate_bpm: int | None = None


@dataclass(frozen=True)
class Answer:
    """A tool's result: structured content plus the text a model reads."""

    structured: _Out
    text: str


def render_cell(value: Cell) -> str:
    """A cell as text: empty for missing, yes/no for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_NOUNS = {
    "sleep": "sleeps",
    "recovery": "recoveries",
    "workout": "workouts",
    "cycle": "cycles (day strain)",
    "summary": "daily summary",
}


def table_answer(
    *, provider: str, display_name: str, kind: str, first: date, last: date, table: Table
) -> Answer:
    """A table as structured content and as ``|``-separated text under a one-line heading."""
    structured = TableAnswer.model_validate(
        {
            "provider": provider,
            "kind": kind,
            "first_day": first,
            "last_day": last,
            "utc_offset": table.utc_offset,
            "columns": list(table.columns),
            "rows": table.rows,
        }
    )
    days = (last - first).days + 1
    where = f"local times UTC{table.utc_offset}" if table.utc_offset else "local times"
    heading = f"{display_name} {_NOUNS[kind]}, {first} to {last} ({days} days, {where})"
    if not table.rows:
        return Answer(structured, f"{heading}: nothing recorded.")
    lines = [heading + ":", "|".join(table.columns)]
    lines += ["|".join(render_cell(cell) for cell in row) for row in table.rows]
    return Answer(structured, "\n".join(lines))


def record_answer(record: dict[str, JsonValue]) -> Answer:
    """One record, every field, as compact JSON."""
    return Answer(
        RecordAnswer(record=record),
        json.dumps(record, separators=(",", ":"), ensure_ascii=False),
    )


def profile_answer(profile: ProfileAnswer) -> Answer:
    """The profile as ``key: value`` lines."""
    fields = profile.model_dump(exclude_none=True)
    return Answer(profile, "\n".join(f"{key}: {value}" for key, value in fields.items()))
