"""Reading through a `HealthProvider`, day by day."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from wellpipe.core.models import DataKind, DayRange, DaySummary, Record, RecordSet, summarize_days
from wellpipe.core.ports import HealthProvider

__all__ = ["DAILY_KINDS", "READ_KINDS", "TIMED_KINDS", "latest_tz", "read_days", "read_recent"]

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


def latest_tz(records: Sequence[Record], default: tzinfo) -> tzinfo:
    """The zone of the most recent timed record: where the user is now, as far as data knows."""
    starts = [start for r in records if isinstance(start := getattr(r, "start", None), datetime)]
    latest = max(starts, default=None)
    return latest.tzinfo if latest is not None and latest.tzinfo is not None else default


def recent_window(days: int, *, now: datetime) -> DayRange:
    """Days wide enough to hold the last ``days`` local days in any zone (cut afterwards)."""
    utc_today = now.astimezone(UTC).date()
    # Local "today" is within a day of UTC's; read wide enough for any zone, then cut.
    return DayRange(first=utc_today - timedelta(days=days), last=utc_today + timedelta(days=1))


async def read_recent(
    provider: HealthProvider,
    kinds: Collection[DataKind],
    days: int,
    *,
    now: datetime,
    default_tz: tzinfo = UTC,
) -> tuple[DayRange, RecordSet]:
    """The last ``days`` local days (today included) and every record of ``kinds`` on them.

    Today is today where the newest record was taken (else in ``default_tz``);
    records come back unfiltered: keep those whose ``day`` is in the range.
    """
    records = await provider.read(kinds, recent_window(days, now=now).query_window())
    tz = latest_tz(records.all(), default_tz)
    return DayRange.last_days(days, now=now, tz=tz), records
