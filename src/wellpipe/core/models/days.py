"""One local day's sleep, recovery or readiness, strain, activity and workouts, joined."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from wellpipe.core.models.common import DayRange, Record
from wellpipe.core.models.cycle import Cycle
from wellpipe.core.models.daily import DailyActivity, DailyVitals, Readiness
from wellpipe.core.models.recovery import Recovery
from wellpipe.core.models.sleep import Sleep
from wellpipe.core.models.workout import Workout

__all__ = ["DaySummary", "merge_timeline", "summarize_days"]

R = TypeVar("R", bound=Record)


class DaySummary(BaseModel):
    """Everything recorded for one local day.

    Attributes:
        day: The local calendar day.
        sleep: The night's main sleep (the longest non-nap that ended this day).
        naps: Naps that ended this day, oldest first.
        recovery: The recovery measured over the main sleep.
        cycle: The physiological cycle (day strain) the person was awake for.
        workouts: Workouts that started this day, oldest first.
        readiness: Oura's readiness for the day (not WHOOP's recovery).
        activity: The day's steps, distance and energy.
        vitals: The day's vital signs (resting heart rate, HRV, SpO2...).
        provider: Which provider these records came from, when the summary
            belongs to one of several sources merged into one timeline.
        other_records: Anything else that fell on this day (a second main sleep
            after a long flight, a short cycle from crossing time zones). Kept
            rather than silently dropped.
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    day: date
    sleep: Sleep | None = None
    naps: tuple[Sleep, ...] = ()
    recovery: Recovery | None = None
    cycle: Cycle | None = None
    workouts: tuple[Workout, ...] = ()
    readiness: Readiness | None = None
    activity: DailyActivity | None = None
    vitals: DailyVitals | None = None
    provider: str | None = None
    other_records: tuple[Sleep | Recovery | Cycle, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether nothing at all was recorded this day."""
        return not (
            self.sleep
            or self.naps
            or self.recovery
            or self.cycle
            or self.workouts
            or self.readiness
            or self.activity
            or self.vitals
        )


def _by_start(record: Sleep | Recovery | Cycle | Workout) -> datetime:
    return record.start


def _sleep_length(sleep: Sleep) -> float:
    return sleep.duration_min or 0.0


def summarize_days(
    records: Iterable[Record], days: DayRange, *, provider: str | None = None
) -> list[DaySummary]:
    """Join one provider's records into one summary per day of ``days``, oldest first.

    Days with no data are present and empty, so gaps stay visible. Records that
    fall outside ``days`` are ignored. ``provider`` labels every summary (for
    timelines that merge several sources); records of several providers must
    not be mixed in one call, since each day keeps one main sleep.
    """
    buckets: dict[date, list[Record]] = defaultdict(list)
    for record in records:
        if days.includes(record.day):
            buckets[record.day].append(record)
    return [_summarize_day(day, buckets.get(day, []), provider) for day in days.days()]


def merge_timeline(
    sources: Sequence[tuple[str, Iterable[Record]]], days: DayRange
) -> list[DaySummary]:
    """One timeline of several providers' days: per day, one labelled summary per source.

    ``sources`` pairs a provider name with its records, in the order the
    sources should be listed within a day. A source with nothing on a day adds
    no row for it; a day with nothing from any source keeps one empty,
    unlabelled row so gaps stay visible.
    """
    per_source = [(name, summarize_days(records, days, provider=name)) for name, records in sources]
    timeline: list[DaySummary] = []
    for index, day in enumerate(days.days()):
        rows = [summaries[index] for _, summaries in per_source if not summaries[index].is_empty]
        timeline += rows or [DaySummary(day=day)]
    return timeline


def _latest(records: list[Record], kind: type[R]) -> R | None:
    """The last-listed record of ``kind`` (a provider sends at most one per day)."""
    found = [r for r in records if isinstance(r, kind)]
    return found[-1] if found else None


def _summarize_day(day: date, records: list[Record], provider: str | None) -> DaySummary:
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
        readiness=_latest(records, Readiness),
        activity=_latest(records, DailyActivity),
        vitals=_latest(records, DailyVitals),
        provider=provider,
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
