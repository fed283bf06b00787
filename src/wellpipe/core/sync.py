"""Filling a history store: the first backfill, page by page, then incremental refreshes.

Two engine functions, the same for the self-hosted CLI (``wellpipe sync``) and the
cloud's job queue:

* `backfill`: every stream of a `SyncSource` read from `BACKFILL_START` (or the saved
  cursor) to now, one page at a time, each page stored with its `SyncCursor` in one
  atomic `HistoryStore.save_page`. A run killed mid-page, cancelled or failing loses
  nothing and stores nothing twice: the next run resumes from the last saved cursor
  (records are kept once per provider, kind and id, so a page read again replaces
  itself). A finished stream's days become covered (`HistoryStore.cover`).
* `refresh`: after the backfill, re-read only what may still change: the last
  `RECENT_DAYS` days, the days since the last refresh, and the days holding records
  the provider has not finished scoring (`HistoryStore.unsettled_days`), through the
  provider's normal `HealthProvider.read`, each run of days made exactly what the
  provider holds (`HistoryStore.replace`: a record it deleted is deleted).

A `SyncableProvider` is a `HealthProvider` that is also a `SyncSource` (every
built-in provider is). Progress goes to an optional `ProgressCallback` after every
stored page: records, pages and requests so far, and an estimate of the pages the
whole backfill takes once one is knowable (see `Progress.pages_estimate`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal, Protocol

from wellpipe.core.history import Coverage, HistoryStore, Span, Stream, SyncCursor, SyncSource
from wellpipe.core.models import DataKind, DayRange, Record, TimeWindow
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.reading import EARLIEST, READ_KINDS

__all__ = [
    "BACKFILL_START",
    "RECENT_DAYS",
    "UNSETTLED_GAP_DAYS",
    "Progress",
    "ProgressCallback",
    "SyncReport",
    "SyncableProvider",
    "backfill",
    "backfill_window",
    "backfilled",
    "oldest_day",
    "refresh",
    "refresh_days",
]

RECENT_DAYS: Final = 3
"""Days up to today that every refresh reads again: scores, naps and edits land late."""

UNSETTLED_GAP_DAYS: Final = 7
"""Unsettled days this close together are read in one go (one read costs a request per
collection, whatever the days: fewer, wider reads are cheaper)."""

BACKFILL_START: Final = datetime.combine(EARLIEST, time(0), tzinfo=UTC)
"""Where a backfill starts when the provider does not say where the account starts: no
wearable data is older (`wellpipe.core.reading.EARLIEST`). A provider's collections
answer only what they hold, so an empty decade costs nothing."""

_WIDEST_EAST: Final = timedelta(hours=14)
"""The furthest a local day runs ahead of UTC (UTC+14:00)."""


class SyncableProvider(HealthProvider, SyncSource, Protocol):
    """A provider that can be read (`HealthProvider`) and synced page by page (`SyncSource`)."""


@dataclass(frozen=True)
class Progress:
    """Where a backfill stands, after each stored page.

    Attributes:
        provider: The provider's name.
        stream: The stream the page belonged to.
        records: Records stored so far, every stream of this backfill together.
        pages: Pages stored so far (including those of earlier, interrupted runs).
        requests: Requests spent so far (the same).
        pages_estimate: The pages the whole backfill will take, estimated from the share
            of each stream's window its pages covered; ``None`` while nothing tells yet
            (the first stream of a provider that pages newest first: where the history
            starts is known only when it ends).
        streams_done: Streams finished.
        streams_total: Streams of the provider.
    """

    provider: str
    stream: str
    records: int
    pages: int
    requests: int
    pages_estimate: int | None
    streams_done: int
    streams_total: int

    @property
    def fraction(self) -> float | None:
        """Pages stored over pages estimated (0 to 1), or ``None`` while unknown."""
        if self.pages_estimate is None or self.pages_estimate <= 0:
            return None
        return min(1.0, self.pages / self.pages_estimate)


ProgressCallback = Callable[[Progress], None]
"""Called after every stored page (synchronously: keep it quick)."""


@dataclass(frozen=True)
class SyncReport:
    """What one `backfill` or `refresh` did.

    Attributes:
        provider: The provider's name.
        mode: ``backfill`` or ``refresh``.
        records: Backfill: records stored by this run. Refresh: rows changed (records
            put or deleted).
        pages: Pages stored by this run (a refresh counts one per run of days read).
        requests: Requests this run spent on pages (a refresh: reads; not counted by
            request, so ``0``).
        streams: Streams finished by this run (backfill).
        resumed: Whether the backfill went on from cursors an earlier run saved.
        days: The runs of days a refresh read again.
        notes: What the provider left out (a permission not granted), one sentence each.
    """

    provider: str
    mode: Literal["backfill", "refresh"]
    records: int = 0
    pages: int = 0
    requests: int = 0
    streams: tuple[str, ...] = ()
    resumed: bool = False
    days: tuple[DayRange, ...] = ()
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------ backfill
def backfill_window(now: datetime, start: datetime = BACKFILL_START) -> TimeWindow:
    """The time a new backfill reads: ``start`` to ``now``."""
    return TimeWindow(start=start, end=now)


def _days_of(window: TimeWindow) -> DayRange:
    """The local days a window read in full covers: from its start's day to its end's."""
    return DayRange(
        first=window.start.astimezone(UTC).date(), last=window.end.astimezone(UTC).date()
    )


def backfilled(coverage: Coverage, kinds: Collection[DataKind]) -> bool:
    """Whether a backfill of ``kinds`` finished: each is covered back to `EARLIEST`."""
    return bool(kinds) and all(
        any(span.first <= EARLIEST for span in coverage.covered(kind)) for kind in kinds
    )


async def oldest_day(
    store: HistoryStore, provider: str, kinds: Collection[DataKind]
) -> date | None:
    """The oldest local day kept of ``kinds`` (the store scans by provider, kind and day)."""
    oldest: date | None = None
    for kind in kinds:
        records: AsyncIterator[Record] = store.scan(provider, {kind})
        try:
            async for record in records:
                oldest = record.day if oldest is None else min(oldest, record.day)
                break
        finally:
            closing = getattr(records, "aclose", None)
            if closing is not None:
                await closing()
    return oldest


@dataclass
class _Tally:
    """Counts of one backfill run, for progress and the report."""

    records: int = 0
    pages: int = 0
    requests: int = 0
    earlier_pages: int = 0
    earlier_requests: int = 0
    earlier_records: int = 0


class _Estimate:
    """Pages the whole backfill takes, from what finished streams and the current one show.

    A finished stream took what it took. The stream under way will take its pages so far
    times its window's days over the days its pages spanned, once the day the history
    starts is known (from a finished stream, or from the store on a resumed run). A stream
    not started yet is guessed at the mean of the others.
    """

    def __init__(self, streams: tuple[Stream, ...], last_day: date) -> None:
        self.streams = streams
        self.last_day = last_day
        self.finished: dict[str, int] = {}
        self.origin: date | None = None
        self.span: dict[str, tuple[date, date]] = {}

    def seen(self, stream: str, records: tuple[Record, ...]) -> None:
        if not records:
            return
        low = min(r.day for r in records)
        high = max(r.day for r in records)
        known = self.span.get(stream)
        self.span[stream] = (
            (low, high) if known is None else (min(known[0], low), max(known[1], high))
        )

    def finish(self, stream: str, pages: int) -> None:
        self.finished[stream] = pages
        span = self.span.get(stream)
        if span is not None:
            self.origin = span[0] if self.origin is None else min(self.origin, span[0])

    def total(self, current: str, current_pages: int) -> int | None:
        finished = self.finished
        guess: int | None = None
        span = self.span.get(current)
        if current not in finished and self.origin is not None and span is not None:
            whole = max(1, (self.last_day - min(self.origin, span[0])).days + 1)
            seen = max(1, (span[1] - span[0]).days + 1)
            guess = max(current_pages, round(current_pages * whole / seen))
        samples = [*finished.values(), *([guess] if guess is not None else [])]
        if not samples:
            return None
        mean = round(sum(samples) / len(samples))
        total = sum(finished.values())
        if current not in finished:
            total += guess if guess is not None else max(current_pages, mean)
        waiting = [s for s in self.streams if s.name not in finished and s.name != current]
        return total + mean * len(waiting)


async def backfill(
    provider: SyncableProvider,
    store: HistoryStore,
    *,
    clock: Clock,
    progress: ProgressCallback | None = None,
    full: bool = False,
) -> SyncReport:
    """Backfill every stream of ``provider`` into ``store``, resuming where a run stopped.

    Streams run one after another in the provider's order (a stream whose records are
    placed by another's comes after it and finds those in the store). Each page is
    stored with its cursor atomically; a stream's last page finishes it and covers the
    days of its window. A stream already backfilled is skipped (``full``: read again
    from the start, replacing what is kept).

    Args:
        provider: The provider to read (its `SyncSource` pages, its name from ``info``).
        store: Where the records go (also how later streams find earlier ones).
        clock: Time: when a new backfill's window ends, and the stored ``now``.
        progress: Called after every stored page.
        full: Start every stream again from the beginning.

    Returns:
        What this run stored.

    Raises:
        WellpipeError: a page could not be read (everything before it is kept; run again
            to resume). Cancellation leaves the store as it was after the last page.
    """
    name = provider.info.name
    streams = provider.streams()
    coverage = await store.coverage(name)
    now = clock.now()
    todo = [
        stream
        for stream in streams
        if full or stream.name in coverage.backfill or not backfilled(coverage, stream.kinds)
    ]
    tally = _Tally()
    estimate = _Estimate(tuple(todo), now.astimezone(UTC).date())
    if len(todo) < len(streams) or coverage.backfill:
        estimate.origin = await oldest_day(store, name, provider.info.kinds & READ_KINDS)
    finished: list[str] = []
    resumed = False
    for stream in todo:
        saved = None if full else coverage.backfill.get(stream.name)
        if saved is not None:
            resumed = True
            tally.earlier_pages += saved.pages
            tally.earlier_requests += saved.requests
            tally.earlier_records += saved.records
            cursor = saved
        else:
            cursor = SyncCursor(
                stream=stream.name, window=backfill_window(now), cursor=None, started_at=now
            )
        while True:
            page = await provider.page(stream.name, cursor.window, cursor.cursor, lookup=store)
            cursor = replace(
                cursor,
                cursor=page.cursor,
                pages=cursor.pages + 1,
                records=cursor.records + len(page.records),
                requests=cursor.requests + page.requests,
                done=page.cursor is None,
            )
            await store.save_page(name, page.records, cursor, now=clock.now())
            tally.records += len(page.records)
            tally.pages += 1
            tally.requests += page.requests
            estimate.seen(stream.name, page.records)
            if page.cursor is None:
                await store.cover(name, stream.kinds, _days_of(cursor.window), now=clock.now())
                finished.append(stream.name)
                estimate.finish(stream.name, cursor.pages)
            if progress is not None:
                pages = tally.earlier_pages + tally.pages
                guess = estimate.total(stream.name, cursor.pages)
                progress(
                    Progress(
                        provider=name,
                        stream=stream.name,
                        records=tally.earlier_records + tally.records,
                        pages=pages,
                        requests=tally.earlier_requests + tally.requests,
                        pages_estimate=None if guess is None else max(guess, pages),
                        streams_done=len(streams) - len(todo) + len(finished),
                        streams_total=len(streams),
                    )
                )
            if page.cursor is None:
                break
    return SyncReport(
        provider=name,
        mode="backfill",
        records=tally.records,
        pages=tally.pages,
        requests=tally.requests,
        streams=tuple(finished),
        resumed=resumed,
    )


# ------------------------------------------------------------ refresh
async def refresh_days(
    provider: HealthProvider,
    store: HistoryStore,
    *,
    now: datetime,
    recent_days: int = RECENT_DAYS,
) -> tuple[DayRange, ...]:
    """The runs of days a refresh reads again, oldest first.

    The last ``recent_days`` days up to today (in the easternmost zone: a record's local
    day may run 14 hours ahead of UTC), back to the newest covered day of any kind and
    the day before the last refresh (what changed since), and every day holding a
    record not settled yet, unsettled days less than `UNSETTLED_GAP_DAYS` apart joined.
    """
    name = provider.info.name
    kinds = provider.info.kinds & READ_KINDS
    coverage = await store.coverage(name)
    utc_today = now.astimezone(UTC).date()
    last = (now.astimezone(UTC) + _WIDEST_EAST).date()
    first = utc_today - timedelta(days=recent_days)
    newest: list[Span] = [spans[-1] for kind in kinds if (spans := coverage.covered(kind))]
    if newest:
        # Everything after the newest covered day, and what the last refresh might have
        # read before its own day was over.
        edge = min(
            min(span.last for span in newest),
            min(s.refreshed_at for s in newest).astimezone(UTC).date() - timedelta(days=1),
        )
        first = min(first, edge)
    first = max(first, EARLIEST)
    recent = DayRange(first=first, last=last)
    oldest = min(
        (spans[0].first for kind in kinds if (spans := coverage.covered(kind))), default=first
    )
    unsettled = [day for day in await store.unsettled_days(name, kinds, oldest) if day < first]
    runs: list[DayRange] = []
    for day in unsettled:
        if runs and (day - runs[-1].last).days <= UNSETTLED_GAP_DAYS:
            runs[-1] = DayRange(first=runs[-1].first, last=day)
        else:
            runs.append(DayRange(first=day, last=day))
    if runs and (recent.first - runs[-1].last).days <= UNSETTLED_GAP_DAYS:
        recent = DayRange(first=runs.pop().first, last=recent.last)
    return (*runs, recent)


async def refresh(
    provider: HealthProvider,
    store: HistoryStore,
    *,
    clock: Clock,
    recent_days: int = RECENT_DAYS,
) -> SyncReport:
    """Read again what may still change (see `refresh_days`) and make the store match.

    Each run of days is read through ``provider.read`` and stored with
    `HistoryStore.replace`: records the provider no longer has on those days are
    deleted, and the days become covered, refreshed now. When the provider left a kind
    out (a permission not granted: `RecordSet.notes`), what it did give is only put,
    nothing deleted or covered, and the notes are in the report.

    Args:
        provider: The provider to read.
        store: The history to update.
        clock: Today.
        recent_days: How many days up to today are always read again.

    Raises:
        WellpipeError: the provider could not be read (runs of days stored before it
            are kept; run again).
    """
    name = provider.info.name
    kinds = provider.info.kinds & READ_KINDS
    runs = await refresh_days(provider, store, now=clock.now(), recent_days=recent_days)
    changed = 0
    notes: list[str] = []
    for days in runs:
        read = await provider.read(kinds, days.query_window())
        records = [r for r in read.all() if days.includes(r.day)]
        if read.notes:
            notes += [n for n in read.notes if n not in notes]
            changed += await store.put(records, now=clock.now())
        else:
            changed += await store.replace(name, kinds, days, records, now=clock.now())
    return SyncReport(
        provider=name,
        mode="refresh",
        records=changed,
        pages=len(runs),
        days=runs,
        notes=tuple(notes),
    )
