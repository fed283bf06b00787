"""Provider-neutral health records. Units are in the field names."""

from wellpipe.core.models.common import (
    DataKind,
    DayRange,
    Record,
    ScoredRecord,
    ScoreState,
    TimedRecord,
    TimeWindow,
)
from wellpipe.core.models.cycle import Cycle, CycleScore
from wellpipe.core.models.days import DaySummary, summarize_days
from wellpipe.core.models.profile import BodyMeasurement, Profile
from wellpipe.core.models.record_set import RecordSet
from wellpipe.core.models.recovery import Recovery, RecoveryScore
from wellpipe.core.models.sleep import Sleep, SleepScore
from wellpipe.core.models.workout import HeartRateZones, Workout, WorkoutScore

__all__ = [
    "BodyMeasurement",
    "Cycle",
    "CycleScore",
    "DataKind",
    "DayRange",
    "DaySummary",
    "HeartRateZones",
    "Profile",
    "Record",
    "RecordSet",
    "Recovery",
    "RecoveryScore",
    "ScoreState",
    "ScoredRecord",
    "Sleep",
    "SleepScore",
    "TimeWindow",
    "TimedRecord",
    "Workout",
    "WorkoutScore",
    "summarize_days",
]
