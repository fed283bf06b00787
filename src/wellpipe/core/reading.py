"""Reading through a `HealthProvider`, day by day."""

from __future__ import annotations

from wellpipe.core.models import DataKind, DayRange, DaySummary, summarize_days
from wellpipe.core.ports import HealthProvider

__all__ = ["TIMED_KINDS", "read_days"]

TIMED_KINDS = frozenset({DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE})
"""The kinds that happen in time (as opposed to profile and body measurement)."""


async def read_days(provider: HealthProvider, days: DayRange) -> list[DaySummary]:
    """One summary per day of ``days`` (oldest first), from everything the provider offers."""
    kinds = TIMED_KINDS & provider.info.kinds
    records = await provider.read(kinds, days.query_window())
    return summarize_days(records.all(), days)
