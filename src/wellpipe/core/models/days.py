"""One local day's sleep, recovery, strain and workouts, joined."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from wellpipe.core.models.common import DayRange, Record
from wellpipe.core.models.cycle import Cycle
from wellpipe.core.models.recovery import Recovery
from wellpipe.core.models.sleep import Sleep
from wellpipe.core.models.workout import Workout

__all__ = ["DaySummary", "summarize_days"]


class DaySummary(BaseModel):
    """Everything recorded for one local day.

    Attributes:
        day: The local calendar day.
        sleep: The night's main sleep (the longest non-nap that ended this day).
        naps: Naps that ended this day, oldest first.
        recovery: The recovery measured over the main sleep.
        cycle: The physiological cycle (day strain) the person was awake for.
        workouts: Workouts that started this day, oldest first.
        other_records: Anything else that fell on this day (a second main sleep
            after a long flight, a short cycle from crossing time zones). Kept
            rather than silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    day: date
    sleep: Sleep | None = None
    naps: tuple[Sleep, ...] = ()
    recovery: Recovery | None = None
    cycle: Cycle | None = None
    workouts: tuple[Workout, ...] = ()
    other_records: tuple[Sleep | Recovery | Cycle, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether nothing at all was recorded this day."""
        return not (self.sleep or self.naps or self.recovery or self.cycle or self.workouts)


def _by_start(record: Sleep | Recovery | Cycle | Workout) -> datetime:
    return record.start


def _sleep_length(sleep: Sleep) -> float:
    return sleep.duration_min or 0.0


def summarize_days(records: Iterable[Record], days: DayRange) -> list[DaySummary]:
    """Join records into one summary per day of ``days``, oldest first.

    Days with no data are present and empty, so gaps stay visible. Records that
    fall outside ``days`` are ignored.
    """
    buckets: dict[date, list[Record]] = defaultdict(list)
    for record in records:
        if days.includes(record.day):
            buckets[record.day].append(record)
    return [_summarize_day(day, buckets.get(day, [])) for day in days.days()]


def _summarize_day(day: date, records: list[Record]) -> DaySummary:
    sleeps = sorted((r for r in records if isinstance(r, Sleep)), key=_by_start)
    main_sleeps = [s for s in sleeps if not s.nap]
    main_sleep = max(main_sleeps, key=_sleep_length) if main_sleeps else None
    cycles = sorted((r for r in records if isinstance(r, Cycle)), key=_by_start)
    recoveries = sorted((r for r in records if isinstance(r, Recovery)), key=_by_start)

    cycle = _pick_cycle(cycles, main_sleep)
    recovery = _pick_recovery(recoveries, main_sleep, cycle)
    others: list[Sleep | Recovery | Cycle] = [s for s in main_sleeps if s is not main_sleep]
    others += [c for c in cycles if c is not cycle]
    others += [r for r in recoveries if r is not recovery]
    return DaySummary(
        day=day,
        sleep=main_sleep,
        naps=tuple(s for s in sleeps if s.nap),
        recovery=recovery,
        cycle=cycle,
        workouts=tuple(sorted((r for r in records if isinstance(r, Workout)), key=_by_start)),
        other_records=tuple(others),
    )


def _pick_cycle(cycles: list[Cycle], main_sleep: Sleep | None) -> Cycle | None:
    """The cycle that begins with the main sleep, else the latest one of the day."""
    if not cycles:
        return None
    if main_sleep is not None:
        for cycle in cycles:
            if cycle.start == main_sleep.start:
                return cycle
    return cycles[-1]


def _pick_recovery(
    recoveries: list[Recovery], main_sleep: Sleep | None, cycle: Cycle | None
) -> Recovery | None:
    """The recovery measured over the main sleep (or belonging to the cycle), else the latest."""
    if not recoveries:
        return None
    for recovery in recoveries:
        if main_sleep is not None and recovery.sleep_source_id == main_sleep.source_id:
            return recovery
        if cycle is not None and recovery.cycle_source_id == cycle.source_id:
            return recovery
    return recoveries[-1]
