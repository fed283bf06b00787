"""Provider-neutral health records. Units are in the field names."""

from wellpipe.core.models.common import (
    DataKind,
    DayRange,
    Record,
    ScoredRecord,
    ScoreState,
    TimedRecord,
    TimeWindow,
    count_of_days,
)
from wellpipe.core.models.cycle import Cycle, CycleScore
from wellpipe.core.models.daily import DailyActivity, DailyVitals, Readiness
from wellpipe.core.models.days import DaySummary, merge_timeline, summarize_days
from wellpipe.core.models.profile import BodyMeasurement, Profile
from wellpipe.core.models.record_set import RecordSet
from wellpipe.core.models.recovery import Recovery, RecoveryScore
from wellpipe.core.models.sleep import Sleep, SleepScore, SleepStage, StageSegment
from wellpipe.core.models.workout import HeartRateZones, Workout, WorkoutScore

__all__ = [
    "BodyMeasurement",
    "Cycle",
    "CycleScore",
    "DailyActivity",
    "DailyVitals",
    "DataKind",
    "DayRange",
    "DaySummary",
    "HeartRateZones",
    "Profile",
    "Readiness",
    "Record",
    "RecordSet",
    "Recovery",
    "RecoveryScore",
    "ScoreState",
    "ScoredRecord",
    "Sleep",
    "SleepScore",
    "SleepStage",
    "StageSegment",
    "TimeWindow",
    "TimedRecord",
    "Workout",
    "WorkoutScore",
    "count_of_days",
    "merge_timeline",
    "summarize_days",
]
