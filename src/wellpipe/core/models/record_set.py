"""What one read from a provider returned, by kind."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from wellpipe.core.models.common import DataKind, Record
from wellpipe.core.models.cycle import Cycle
from wellpipe.core.models.daily import DailyActivity, DailyVitals, Readiness
from wellpipe.core.models.recovery import Recovery
from wellpipe.core.models.sleep import Sleep
from wellpipe.core.models.workout import Workout

__all__ = ["RecordSet"]


class RecordSet(BaseModel):
    """Records of the kinds that were asked for, each tuple newest first as providers list them.

    Attributes:
        notes: Sentences about kinds that could not be read while the rest
            could (a scope the user did not grant, say), each ending with what
            to do. Shown beside the data, never instead of it.
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    sleeps: tuple[Sleep, ...] = ()
    recoveries: tuple[Recovery, ...] = ()
    workouts: tuple[Workout, ...] = ()
    cycles: tuple[Cycle, ...] = ()
    readiness: tuple[Readiness, ...] = ()
    activities: tuple[DailyActivity, ...] = ()
    vitals: tuple[DailyVitals, ...] = ()
    notes: tuple[str, ...] = ()

    def of_kind(self, kind: DataKind) -> tuple[Record, ...]:
        """The records of one kind."""
        by_kind: dict[DataKind, tuple[Record, ...]] = {
            DataKind.SLEEP: self.sleeps,
            DataKind.RECOVERY: self.recoveries,
            DataKind.WORKOUT: self.workouts,
            DataKind.CYCLE: self.cycles,
            DataKind.READINESS: self.readiness,
            DataKind.ACTIVITY: self.activities,
            DataKind.VITALS: self.vitals,
        }
        return by_kind.get(kind, ())

    def all(self) -> list[Record]:
        """Every record, of every kind."""
        return [
            *self.sleeps,
            *self.recoveries,
            *self.workouts,
            *self.cycles,
            *self.readiness,
            *self.activities,
            *self.vitals,
        ]
