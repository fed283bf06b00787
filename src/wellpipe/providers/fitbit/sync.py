"""Google Health (Fitbit) as a `SyncSource`: sessions page by page, daily types at once.

* ``sleep`` and ``exercise``: ``reconcile`` over the whole window in one query, newest
  first as Google orders points, 25 a page (Google's largest for sessions):
  ⌈sessions / 25⌉ requests each.
* ``vitals``: the six daily types and ``weight`` through ``reconcile``, 10,000 points a
  page (Google's largest): a page holds 27 years of a daily type, so the whole stream is
  one `Page` of about one request a type.
* ``activity``: ``dailyRollUp`` (merged across sources, never double-counted) answers no
  more than 90 days a request (14 for ``total-calories``) and has no pages: the stream
  walks back from today in chunks of `ACTIVITY_CHUNK_DAYS` (six 14-day pieces, one
  90-day request for the other types), newest first. Google says nothing of where an
  account starts, so it stops after the first chunk that holds no activity and no kept
  vitals (the vitals stream runs first): one empty chunk past the start, instead of
  every chunk back to 2010. A tracker left in a drawer for twelve weeks or more looks
  like the start; a refresh never reads that far back, so `wellpipe sync --full` is the
  way to fetch older days after such a gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Final

from wellpipe.core.errors import ScopeNotGranted
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import DataKind, Record, TimeWindow
from wellpipe.providers.fitbit import mapping
from wellpipe.providers.fitbit.client import (
    MAX_PAGE_SIZE,
    SESSION_PAGE_SIZE,
    GoogleHealthClient,
    rollup_range_limit,
)
from wellpipe.providers.fitbit.info import INFO
from wellpipe.providers.fitbit.provider import civil_days
from wellpipe.providers.reading import Mapper

__all__ = ["ACTIVITY_CHUNK_DAYS", "STREAMS", "sync_page"]

ACTIVITY_CHUNK_DAYS: Final = 84
"""Days per activity chunk: six 14-day ``total-calories`` requests, one for each other type."""

STREAMS: Final = (
    Stream("sleep", frozenset({DataKind.SLEEP}), SESSION_PAGE_SIZE),
    Stream("exercise", frozenset({DataKind.WORKOUT}), SESSION_PAGE_SIZE),
    Stream("vitals", frozenset({DataKind.VITALS}), MAX_PAGE_SIZE),
    Stream("activity", frozenset({DataKind.ACTIVITY}), ACTIVITY_CHUNK_DAYS),
)
"""Vitals before activity: the activity stream stops where kept vitals end."""

_SESSIONS: Final[dict[str, tuple[str, str, Callable[[Any], Record]]]] = {
    "sleep": ("sleep", "sleep.interval.civil_end_time", mapping.sleep_to_core),
    "exercise": ("exercise", "exercise.interval.civil_start_time", mapping.workout_to_core),
}
_MAP: Final = Mapper(INFO.name)


def _civil_filter(field_name: str, first: date, end: date) -> str:
    return f'{field_name} >= "{first.isoformat()}" AND {field_name} < "{end.isoformat()}"'


async def sync_page(
    client: GoogleHealthClient,
    stream: str,
    window: TimeWindow,
    cursor: str | None,
    *,
    lookup: RecordLookup,
) -> Page:
    """One page of ``stream`` within ``window``, from ``cursor`` (see the module).

    Raises:
        ValueError: ``stream`` is not one of `STREAMS`.
        ProviderError: the page could not be read.
    """
    first, end = civil_days(window)
    if stream in _SESSIONS:
        data_type, field_name, convert = _SESSIONS[stream]
        points, token = await client.reconcile_page(
            data_type,
            filter=_civil_filter(field_name, first, end),
            page_size=SESSION_PAGE_SIZE,
            page_token=cursor,
        )
        present = [p for p in points if getattr(p, data_type) is not None]
        records: tuple[Record, ...] = tuple(_MAP.one(p, convert, stream) for p in present)
        return Page(records=records, cursor=token)
    if stream == "vitals":
        return await _vitals(client, first, end)
    if stream == "activity":
        return await _activity(client, first, end, cursor, lookup)
    raise ValueError(f"Google Health has no stream {stream!r}")


async def _vitals(client: GoogleHealthClient, first: date, end: date) -> Page:
    points: list[Any] = []
    requests = 0
    refused: list[ScopeNotGranted] = []
    queries = [
        (t, _civil_filter(f"{t.replace('-', '_')}.date", first, end))
        for t in mapping.VITALS_DAILY_TYPES
    ]
    queries.append(("weight", _civil_filter("weight.sample_time.civil_time", first, end)))
    for data_type, query in queries:
        token: str | None = None
        while True:
            requests += 1
            try:
                found, token = await client.reconcile_page(
                    data_type, filter=query, page_size=MAX_PAGE_SIZE, page_token=token
                )
            except ScopeNotGranted as refusal:  # a missing permission leaves its values out
                refused.append(refusal)
                break
            points += found
            if token is None:
                break
    if len(refused) == len(queries):
        raise refused[0]
    records = tuple(_MAP.call(lambda: mapping.vitals_to_core(points), "vitals"))
    return Page(records=records, cursor=None, requests=requests)


async def _activity(
    client: GoogleHealthClient, first: date, end: date, cursor: str | None, lookup: RecordLookup
) -> Page:
    stop = date.fromisoformat(cursor) if cursor is not None else end
    start = max(first, stop - timedelta(days=ACTIVITY_CHUNK_DAYS))
    rollups: list[Any] = []
    requests = 0
    for data_type in mapping.ACTIVITY_ROLLUP_TYPES:
        rollups += await client.daily_roll_up(data_type, first=start, end=stop)
        requests += math.ceil((stop - start).days / rollup_range_limit(data_type).days)
    records = tuple(_MAP.call(lambda: mapping.activities_to_core(rollups), "activity"))
    finished = start <= first or (not records and not await _vitals_kept(lookup, start, stop))
    return Page(
        records=records,
        cursor=None if finished else start.isoformat(),
        requests=requests,
    )


async def _vitals_kept(lookup: RecordLookup, start: date, stop: date) -> bool:
    """Whether vitals are kept for a day from ``start`` to before ``stop`` (or before it)."""
    day = stop - timedelta(days=1)
    while day >= start:
        if await lookup.get(INFO.name, DataKind.VITALS, day.isoformat()) is not None:
            return True
        day -= timedelta(days=1)
    return False
