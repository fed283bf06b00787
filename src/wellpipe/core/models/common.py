"""Shapes every provider-neutral record shares: kinds, score states, windows and days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Generic, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator

__all__ = [
    "DataKind",
    "DayRange",
    "Record",
    "ScoreState",
    "ScoredRecord",
    "TimeWindow",
    "TimedRecord",
    "count_of_days",
]


def count_of_days(count: int) -> str:
    """``1 day``, ``7 days``: how every face writes a number of days."""
    return f"{count} day" if count == 1 else f"{count} days"


class DataKind(StrEnum):
    """The kinds of data a provider can offer."""

    SLEEP = "sleep"
    RECOVERY = "recovery"
    """WHOOP's recovery: a 0-100 score measured over the night's sleep."""
    WORKOUT = "workout"
    CYCLE = "cycle"
    """WHOOP's physiological cycle (day strain)."""
    READINESS = "readiness"
    """Oura's readiness: a 0-100 score with named contributors. Not WHOOP's recovery."""
    ACTIVITY = "activity"
    """One local day's movement: steps, distance, energy, active minutes."""
    VITALS = "vitals"
    """One local day's vital signs: resting heart rate, HRV, SpO2, breathing, temperature."""
    PROFILE = "profile"
    BODY_MEASUREMENT = "body_measurement"


class ScoreState(StrEnum):
    """Whether the provider has finished scoring a record.

    A record's metrics live in its ``score``, which is present exactly when the
    state is ``SCORED``: a pending or unscorable record never pretends to be zero.
    """

    SCORED = "scored"
    PENDING = "pending"
    """The provider is still computing the score; ask again later."""
    UNSCORABLE = "unscorable"
    """The provider could not score it (commonly: too little sensor data)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class Record(_Frozen):
    """Something a provider measured, attributed to one local day.

    Attributes:
        provider: Which provider it came from (``"whoop"``).
        source_id: The provider's own id for it, as a string.
        day: The local calendar day it belongs to, computed from the record's own
            timezone offset (never the machine's).
        extras: Provider-specific facts that have no neutral field.
        updated_at: When the provider last changed the record, where it says so
            (WHOOP on every record, Google Health on sessions); how a sync tells a
            record it already keeps from a newer version of it.
    """

    provider: str
    source_id: str
    day: date
    extras: dict[str, JsonValue] = Field(default_factory=dict)
    updated_at: AwareDatetime | None = None


class TimedRecord(Record):
    """A record that spans an interval.

    ``start`` and ``end`` carry the UTC offset the provider recorded, so
    ``start.isoformat()`` reads as local wall-clock time.
    """

    start: AwareDatetime
    end: AwareDatetime | None

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    @property
    def duration_min(self) -> float | None:
        """Minutes from start to end, or ``None`` while the record is still open."""
        if self.end is None:
            return None
        return (self.end - self.start).total_seconds() / 60


ScoreT = TypeVar("ScoreT", bound=BaseModel)


class ScoredRecord(TimedRecord, Generic[ScoreT]):
    """A timed record the provider scores after the fact."""

    score_state: ScoreState
    score: ScoreT | None = None
    """Present exactly when scored; answers that leave out empty fields leave it out too."""

    @model_validator(mode="after")
    def _score_matches_state(self) -> Self:
        if (self.score_state is ScoreState.SCORED) != (self.score is not None):
            raise ValueError(
                f"score must be present exactly when score_state is 'scored' "
                f"(score_state={self.score_state.value!r}, score present={self.score is not None})"
            )
        return self


class TimeWindow(_Frozen):
    """A half-open span of time ``[start, end)`` between two aware instants."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("a time window's end must be after its start")
        return self

    @classmethod
    def between(cls, start: datetime, end: datetime) -> TimeWindow:
        """The window ``[start, end)``."""
        return cls(start=start, end=end)

    def contains(self, instant: datetime) -> bool:
        """Whether the instant lies in ``[start, end)``."""
        return self.start <= instant < self.end


class DayRange(_Frozen):
    """An inclusive range of local calendar days, ``first`` to ``last``."""

    first: date
    last: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last < self.first:
            raise ValueError("a day range's last day must not be before its first")
        return self

    @classmethod
    def ending(cls, last: date, *, days: int) -> DayRange:
        """The ``days`` days that end with ``last`` (inclusive)."""
        if days < 1:
            raise ValueError("days must be at least 1")
        return cls(first=last - timedelta(days=days - 1), last=last)

    @classmethod
    def last_days(cls, days: int, *, now: datetime, tz: tzinfo | None = None) -> DayRange:
        """The ``days`` days up to and including today, where today is ``now`` in ``tz``."""
        local_now = now.astimezone(tz) if tz is not None else now
        return cls.ending(local_now.date(), days=days)

    def days(self) -> list[date]:
        """Every day of the range, oldest first."""
        return [self.first + timedelta(days=i) for i in range(self.count)]

    @property
    def count(self) -> int:
        """How many days the range holds."""
        return (self.last - self.first).days + 1

    def includes(self, day: date) -> bool:
        """Whether ``day`` lies in the range."""
        return self.first <= day <= self.last

    def query_window(self) -> TimeWindow:
        """A time window wide enough to catch every record that belongs to these days.

        A record's day comes from its own UTC offset (anything from -12:00 to
        +14:00), a night's sleep starts the evening before the day it belongs to,
        and a physiological cycle can start up to a day before. Filter what comes
        back by ``record.day``.
        """
        start = datetime.combine(self.first - timedelta(days=2), time(0), tzinfo=UTC)
        end = datetime.combine(self.last + timedelta(days=2), time(0), tzinfo=UTC)
        return TimeWindow(start=start, end=end)
