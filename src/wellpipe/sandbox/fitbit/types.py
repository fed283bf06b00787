"""The Google Health data types the sandbox knows, and Google's wire conventions.

Each type has a record shape (which decides its filter members), the read scope
that covers it (§7.3 of the reference), the methods it supports and its roll-up
range limit. Types the sandbox has no synthetic data for but that Google serves
(``floors``, ``body-fat``, ...) answer with empty collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "ACTIVITY",
    "ALL_READ_SCOPES",
    "DATA_TYPES",
    "HEALTH_METRICS",
    "LOCATION",
    "PROFILE",
    "SCOPE_PREFIX",
    "SETTINGS",
    "SLEEP",
    "DataType",
    "civil",
    "date_json",
    "duration",
    "rfc3339",
]

Json = dict[str, Any]
Shape = Literal["interval", "sample", "daily", "session"]

SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth."
SLEEP = f"{SCOPE_PREFIX}sleep.readonly"
HEALTH_METRICS = f"{SCOPE_PREFIX}health_metrics_and_measurements.readonly"
ACTIVITY = f"{SCOPE_PREFIX}activity_and_fitness.readonly"
PROFILE = f"{SCOPE_PREFIX}profile.readonly"
SETTINGS = f"{SCOPE_PREFIX}settings.readonly"
LOCATION = f"{SCOPE_PREFIX}location.readonly"
ALL_READ_SCOPES = frozenset({SLEEP, HEALTH_METRICS, ACTIVITY, PROFILE, SETTINGS})
"""What Wellpipe asks for: the three data families plus profile and settings."""


@dataclass(frozen=True)
class DataType:
    """One ``{kebab}`` data type as the sandbox serves it."""

    kebab: str
    shape: Shape
    scope: str
    rollup: bool = False
    """Supports ``rollUp`` and ``dailyRollUp``."""
    listable: bool = True
    """Supports ``list`` and ``reconcile`` (``total-calories`` does not)."""
    identifiable: bool = False
    """Points have names and ``get`` works."""
    rollup_days: int = 90
    daily_rollup_only: bool = False
    """Personal-range roll-ups: ``dailyRollUp`` only."""

    @property
    def field(self) -> str:
        """The union member in ``DataPoint`` (camelCase)."""
        head, *rest = self.kebab.split("-")
        return head + "".join(part.capitalize() for part in rest)

    @property
    def snake(self) -> str:
        """The name filters use (snake_case)."""
        return self.kebab.replace("-", "_")

    @property
    def page_default(self) -> int:
        """Default page size (sessions: 25)."""
        return 25 if self.kebab in {"sleep", "exercise"} else 1440

    @property
    def page_max(self) -> int:
        """Largest page size (sessions: 25); larger requests are truncated."""
        return 25 if self.kebab in {"sleep", "exercise"} else 10_000


def _types(*types: DataType) -> dict[str, DataType]:
    return {t.kebab: t for t in types}


DATA_TYPES: dict[str, DataType] = _types(
    DataType("sleep", "session", SLEEP, identifiable=True),
    DataType("exercise", "session", ACTIVITY, identifiable=True),
    DataType("steps", "interval", ACTIVITY, rollup=True),
    DataType("distance", "interval", ACTIVITY, rollup=True),
    DataType("total-calories", "interval", ACTIVITY, rollup=True, listable=False, rollup_days=14),
    DataType("active-energy-burned", "interval", ACTIVITY, rollup=True),
    DataType("active-zone-minutes", "interval", ACTIVITY, rollup=True),
    DataType("heart-rate", "sample", HEALTH_METRICS, rollup=True, rollup_days=14),
    DataType("daily-resting-heart-rate", "daily", HEALTH_METRICS, daily_rollup_only=True),
    DataType("daily-heart-rate-variability", "daily", HEALTH_METRICS, daily_rollup_only=True),
    DataType("daily-oxygen-saturation", "daily", HEALTH_METRICS),
    DataType("daily-respiratory-rate", "daily", HEALTH_METRICS),
    DataType("daily-sleep-temperature-derivations", "daily", HEALTH_METRICS),
    DataType("daily-vo2-max", "daily", ACTIVITY),
    DataType("weight", "sample", HEALTH_METRICS, rollup=True, identifiable=True),
    DataType("height", "sample", HEALTH_METRICS),
    # Served empty: Google has them, the synthetic members never recorded any.
    DataType("floors", "interval", ACTIVITY, rollup=True),
    DataType("altitude", "interval", ACTIVITY, rollup=True),
    DataType("active-minutes", "interval", ACTIVITY, rollup=True, rollup_days=14),
    DataType("activity-level", "interval", ACTIVITY, rollup=True),
    DataType("sedentary-period", "interval", ACTIVITY, rollup=True),
    DataType("time-in-heart-rate-zone", "interval", ACTIVITY, rollup=True),
    DataType("vo2-max", "sample", ACTIVITY),
    DataType("run-vo2-max", "sample", ACTIVITY, rollup=True),
    DataType("body-fat", "sample", HEALTH_METRICS, rollup=True, identifiable=True),
    DataType("oxygen-saturation", "sample", HEALTH_METRICS),
    DataType("heart-rate-variability", "sample", HEALTH_METRICS),
    DataType("respiratory-rate-sleep-summary", "sample", HEALTH_METRICS),
    DataType("core-body-temperature", "sample", HEALTH_METRICS, rollup=True, identifiable=True),
)

ROLLUP_FIELDS = {
    "daily-resting-heart-rate": "restingHeartRatePersonalRange",
    "daily-heart-rate-variability": "heartRateVariabilityPersonalRange",
}


# ---------------------------------------------------------------------- wire formats
def rfc3339(instant: datetime) -> str:
    """An instant as Google writes it: UTC, ``Z``, fractional seconds only when present."""
    utc = instant.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def duration(seconds: float) -> str:
    """A ``google-duration``: ``"3600s"``, ``"-18000s"``, ``"1.5s"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def date_json(day: date) -> Json:
    """A ``google.type.Date``."""
    return {"year": day.year, "month": day.month, "day": day.day}


def civil(moment: datetime) -> Json:
    """A ``CivilDateTime`` from a naive wall-clock time; proto3 JSON omits zero fields."""
    time = {
        key: value
        for key, value in (
            ("hours", moment.hour),
            ("minutes", moment.minute),
            ("seconds", moment.second),
            ("nanos", moment.microsecond * 1000),
        )
        if value
    }
    return {"date": date_json(moment.date()), "time": time}


def offset_seconds(offset: timedelta | None) -> int:
    """A UTC offset in whole seconds."""
    return int(offset.total_seconds()) if offset is not None else 0
