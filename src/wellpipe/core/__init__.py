"""Wellpipe's provider-neutral core: models, ports, errors. No HTTP, web or SQL here.

Names load on first use (PEP 562), so a command that needs only the error types
(``wellpipe serve`` answering its first messages) does not pay for the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wellpipe.core.clock import SystemClock
    from wellpipe.core.errors import (
        AuthError,
        ConfigError,
        InvalidRequest,
        NotFound,
        ProviderError,
        ProviderRateLimited,
        ProviderResponseError,
        ProviderUnavailable,
        ReauthorizationRequired,
        ScopeNotGranted,
        UnknownProviderError,
        UnsupportedDataKind,
        WellpipeError,
    )
    from wellpipe.core.models import (
        BodyMeasurement,
        Cycle,
        CycleScore,
        DailyActivity,
        DailyVitals,
        DataKind,
        DayRange,
        DaySummary,
        HeartRateZones,
        Profile,
        Readiness,
        Record,
        RecordSet,
        Recovery,
        RecoveryScore,
        ScoredRecord,
        ScoreState,
        Sleep,
        SleepScore,
        SleepStage,
        StageSegment,
        TimedRecord,
        TimeWindow,
        Workout,
        WorkoutScore,
        merge_timeline,
        summarize_days,
    )
    from wellpipe.core.ports import Clock, HealthProvider, TokenProvider
    from wellpipe.core.provider_info import ProviderInfo, RateLimit
    from wellpipe.core.reading import DAILY_KINDS, READ_KINDS, TIMED_KINDS, read_days
    from wellpipe.core.tokens import MemoryTokenProvider, TokenSet

_SOURCES: dict[str, str] = {
    "AuthError": "wellpipe.core.errors",
    "BodyMeasurement": "wellpipe.core.models",
    "Clock": "wellpipe.core.ports",
    "ConfigError": "wellpipe.core.errors",
    "Cycle": "wellpipe.core.models",
    "CycleScore": "wellpipe.core.models",
    "DAILY_KINDS": "wellpipe.core.reading",
    "DailyActivity": "wellpipe.core.models",
    "DailyVitals": "wellpipe.core.models",
    "DataKind": "wellpipe.core.models",
    "DayRange": "wellpipe.core.models",
    "DaySummary": "wellpipe.core.models",
    "HealthProvider": "wellpipe.core.ports",
    "HeartRateZones": "wellpipe.core.models",
    "MemoryTokenProvider": "wellpipe.core.tokens",
    "NotFound": "wellpipe.core.errors",
    "Profile": "wellpipe.core.models",
    "ProviderError": "wellpipe.core.errors",
    "ProviderInfo": "wellpipe.core.provider_info",
    "ProviderRateLimited": "wellpipe.core.errors",
    "ProviderResponseError": "wellpipe.core.errors",
    "ProviderUnavailable": "wellpipe.core.errors",
    "READ_KINDS": "wellpipe.core.reading",
    "RateLimit": "wellpipe.core.provider_info",
    "Readiness": "wellpipe.core.models",
    "ReauthorizationRequired": "wellpipe.core.errors",
    "Record": "wellpipe.core.models",
    "RecordSet": "wellpipe.core.models",
    "Recovery": "wellpipe.core.models",
    "RecoveryScore": "wellpipe.core.models",
    "ScopeNotGranted": "wellpipe.core.errors",
    "ScoreState": "wellpipe.core.models",
    "ScoredRecord": "wellpipe.core.models",
    "Sleep": "wellpipe.core.models",
    "SleepScore": "wellpipe.core.models",
    "SleepStage": "wellpipe.core.models",
    "StageSegment": "wellpipe.core.models",
    "SystemClock": "wellpipe.core.clock",
    "TIMED_KINDS": "wellpipe.core.reading",
    "TimeWindow": "wellpipe.core.models",
    "TimedRecord": "wellpipe.core.models",
    "TokenProvider": "wellpipe.core.ports",
    "TokenSet": "wellpipe.core.tokens",
    "UnknownProviderError": "wellpipe.core.errors",
    "InvalidRequest": "wellpipe.core.errors",
    "UnsupportedDataKind": "wellpipe.core.errors",
    "WellpipeError": "wellpipe.core.errors",
    "Workout": "wellpipe.core.models",
    "WorkoutScore": "wellpipe.core.models",
    "merge_timeline": "wellpipe.core.models",
    "read_days": "wellpipe.core.reading",
    "summarize_days": "wellpipe.core.models",
}

__all__ = [
    "DAILY_KINDS",
    "READ_KINDS",
    "TIMED_KINDS",
    "AuthError",
    "BodyMeasurement",
    "Clock",
    "ConfigError",
    "Cycle",
    "CycleScore",
    "DailyActivity",
    "DailyVitals",
    "DataKind",
    "DayRange",
    "DaySummary",
    "HealthProvider",
    "HeartRateZones",
    "InvalidRequest",
    "MemoryTokenProvider",
    "NotFound",
    "Profile",
    "ProviderError",
    "ProviderInfo",
    "ProviderRateLimited",
    "ProviderResponseError",
    "ProviderUnavailable",
    "RateLimit",
    "Readiness",
    "ReauthorizationRequired",
    "Record",
    "RecordSet",
    "Recovery",
    "RecoveryScore",
    "ScopeNotGranted",
    "ScoreState",
    "ScoredRecord",
    "Sleep",
    "SleepScore",
    "SleepStage",
    "StageSegment",
    "SystemClock",
    "TimeWindow",
    "TimedRecord",
    "TokenProvider",
    "TokenSet",
    "UnknownProviderError",
    "UnsupportedDataKind",
    "WellpipeError",
    "Workout",
    "WorkoutScore",
    "merge_timeline",
    "read_days",
    "summarize_days",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
