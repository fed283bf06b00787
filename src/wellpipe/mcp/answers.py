"""What tools answer: object-rooted structured content, and the same thing as compact text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from wellpipe.core.models import count_of_days
from wellpipe.mcp.tables import Cell, Table

__all__ = [
    "Answer",
    "FetchAnswer",
    "ProfileAnswer",
    "RecordAnswer",
    "SearchAnswer",
    "SearchResult",
    "SourceProfile",
    "TableAnswer",
    "count_days",
    "json_answer",
    "profile_answer",
    "readable",
    "record_answer",
    "render_cell",
    "table_answer",
]


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


TableKind = Literal[
    "sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals", "summary"
]


class TableAnswer(_Out):
    """Rows of one kind (or day summaries) over a range of local days, oldest first."""

    provider: str = Field(
        description="the provider read; several are comma-separated and each row's "
        "source column names its provider"
    )
    kind: TableKind
    first_day: date
    last_day: date
    utc_offset: str | None = Field(
        default=None, description="offset of every local time, when all rows share one"
    )
    columns: list[str]
    rows: list[list[Cell]]
    notes: list[str] | None = Field(
        default=None,
        description="data left out (a provider that failed, a permission not granted) "
        "and what to do about it",
    )


class RecordAnswer(_Out):
    """Every field of one record."""

    record: dict[str, JsonValue]


class SourceProfile(_Out):
    """Who the data belongs to, as one provider knows them."""

    provider: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    age: int | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    max_heart_rate_bpm: int | None = None


class ProfileAnswer(SourceProfile):
    """Who the data belongs to; with several providers, each one's view in ``sources``."""

    provider: str = Field(description="the provider read; several are comma-separated")
    sources: list[SourceProfile] | None = None
    notes: list[str] | None = None


class SearchResult(_Out):
    """One day or record a search found: the id fetch takes, a title and one line of it."""

    id: str
    title: str
    url: str | None = None
    text: str = Field(description="the headline values, one line")


class SearchAnswer(_Out):
    """What ChatGPT's search returns (``results``, newest first), and how it read the query."""

    results: list[SearchResult]
    searched: str = Field(description="how the query was read: what, from whom, which days")
    notes: list[str] | None = None


class FetchAnswer(_Out):
    """One day or record in full, as ChatGPT's fetch returns it."""

    id: str
    title: str
    text: str
    url: str | None = None
    metadata: dict[str, str] | None = None


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
    "readiness": "readiness",
    "activity": "daily activity",
    "vitals": "daily vitals",
    "summary": "daily summary",
}


def _note_lines(notes: Sequence[str]) -> list[str]:
    return [f"Note: {note}" for note in notes]


def table_answer(
    *,
    providers: Sequence[str],
    display_names: Sequence[str],
    kind: str,
    first: date,
    last: date,
    table: Table,
    notes: Sequence[str] = (),
) -> Answer:
    """A table as structured content and as ``|``-separated text under a one-line heading.

    ``providers`` (names) and ``display_names`` are the providers that answered;
    ``notes`` (what was left out and why) follow the table, one line each.
    """
    structured = TableAnswer.model_validate(
        {
            "provider": ",".join(providers),
            "kind": kind,
            "first_day": first,
            "last_day": last,
            "utc_offset": table.utc_offset,
            "columns": list(table.columns),
            "rows": table.rows,
            "notes": list(notes) or None,
        }
    )
    where = f"local times UTC{table.utc_offset}" if table.utc_offset else "local times"
    who = " + ".join(display_names)
    heading = f"{who} {_NOUNS[kind]}, {first} to {last} ({count_days(first, last)}, {where})"
    if not table.rows:
        return Answer(structured, "\n".join([f"{heading}: nothing recorded.", *_note_lines(notes)]))
    lines = [heading + ":", "|".join(table.columns)]
    lines += ["|".join(render_cell(cell) for cell in row) for row in table.rows]
    return Answer(structured, "\n".join([*lines, *_note_lines(notes)]))


def count_days(first: date, last: date) -> str:
    """``1 day``, ``7 days``: how many days ``first`` to ``last`` (both included) are."""
    return count_of_days((last - first).days + 1)


_PRECISION = (
    ("_ml_kg_min", 1),
    ("_per_min", 1),
    ("_min", 0),
    ("_pct", 1),
    ("_ms", 1),
    ("_bpm", 0),
    ("_kcal", 0),
    ("_celsius", 2),
    ("_kg", 1),
    ("strain", 1),
)
"""Decimals a person reads, by the unit a field's name ends with (first match wins)."""


def _rounded(name: str, value: float) -> float | int:
    """``value`` of field ``name`` at its unit's precision (metres: cm under 10 m, else m)."""
    if name.endswith("_m"):
        digits = 2 if abs(value) < 10 else 0
    else:
        fallback = 0 if abs(value) >= 100 else (1 if abs(value) >= 10 else 2)
        digits = next((d for suffix, d in _PRECISION if name.endswith(suffix)), fallback)
    return round(value) if digits == 0 else round(value, digits)


def readable(value: JsonValue, name: str = "") -> JsonValue:
    """A record's JSON as a person reads it: numbers rounded per unit, empty lists left out.

    Empty objects go too (no extras, no contributors); ``name`` is the field a number sits
    in (a list's items keep their list's name).
    """
    if isinstance(value, dict):
        kept = {key: readable(inner, key) for key, inner in value.items()}
        return {key: inner for key, inner in kept.items() if inner != [] and inner != {}}
    if isinstance(value, list):
        return [readable(inner, name) for inner in value]
    if isinstance(value, float):
        return _rounded(name, value)
    return value


def record_answer(record: dict[str, JsonValue]) -> Answer:
    """One record, every field, as compact JSON (rounded, without empty lists)."""
    shown = readable(record)
    assert isinstance(shown, dict)
    return Answer(
        RecordAnswer(record=shown),
        json.dumps(shown, separators=(",", ":"), ensure_ascii=False),
    )


def json_answer(structured: SearchAnswer | FetchAnswer) -> Answer:
    """An answer whose text is its structured content as compact JSON (as ChatGPT reads it)."""
    dumped = structured.model_dump(mode="json", exclude_none=True)
    return Answer(structured, json.dumps(dumped, separators=(",", ":"), ensure_ascii=False))


def _profile_lines(profile: SourceProfile) -> list[str]:
    fields = profile.model_dump(exclude_none=True)
    return [f"{key}: {value}" for key, value in fields.items()]


def profile_answer(profiles: Sequence[SourceProfile], notes: Sequence[str] = ()) -> Answer:
    """One provider's profile as ``key: value`` lines; several, one block each."""
    if len(profiles) == 1 and not notes:
        one = ProfileAnswer.model_validate(profiles[0].model_dump())
        return Answer(one, "\n".join(_profile_lines(one)))
    answer = ProfileAnswer(
        provider=",".join(p.provider for p in profiles),
        sources=list(profiles),
        notes=list(notes) or None,
    )
    blocks = ["\n".join(_profile_lines(p)) for p in profiles]
    return Answer(answer, "\n\n".join([*blocks, *_note_lines(notes)]))
