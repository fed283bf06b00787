"""Reading through a `HealthProvider`, day by day."""

from __future__ import annotations

from wellpipe.core.models import DataKind, DayRange, DaySummary, summarize_days
from wellpipe.core.ports import HealthProvider

__all__ = ["DAILY_KINDS", "READ_KINDS", "TIMED_KINDS", "read_days"]

TIMED_KINDS = frozenset({DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE})
"""The kinds that happen over an interval of time (start and end)."""

DAILY_KINDS = frozenset({DataKind.READINESS, DataKind.ACTIVITY, DataKind.VITALS})
"""The kinds that belong to a whole local day."""

READ_KINDS = TIMED_KINDS | DAILY_KINDS
"""Every kind `HealthProvider.read` returns (as opposed to profile and body measurement)."""


async def read_days(provider: HealthProvider, days: DayRange) -> list[DaySummary]:
    """One summary per day of ``days`` (oldest first), from everything the provider offers."""
    kinds = READ_KINDS & provider.info.kinds
    records = await provider.read(kinds, days.query_window())
    return summarize_days(records.all(), days, provider=provider.info.name)
