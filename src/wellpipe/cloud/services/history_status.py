"""What Wellpipe keeps of a user's history, per connected provider, for the dashboard.

`history_status` turns each connected provider's `Coverage` (spans, counts and backfill
cursors from `wellpipe.cloud.db.history.UserHistory`) into a `ProviderHistory`: the
days covered from when to when (and the gaps between them), the records kept in total
and per kind, when the newest days were last read, and where the first backfill stands:

* **not started**: no stream has finished and none has saved a page yet (the job is
  queued after connecting);
* **running**: a stream has saved a page and not finished, or some streams finished and
  others are still to come. Progress is an estimate, and the page says "about": each
  finished stream counts whole, the stream under way counts the share of its window
  its records reach, streams still to come count nothing. A stream that reads newest
  first (WHOOP, Google) has read from the window's end back to its oldest record kept;
  one that reads oldest first (Oura) has read from the history's start (its oldest
  record) up to its newest. Where a newest-first history starts is only known once a
  stream reached it; until then the window's start (2010) stands in, so the first
  stream's share is low and then jumps: an honest underestimate;
* **done**: every stream of the provider finished.

Only counts and dates are read: the records themselves stay sealed. The oldest and
newest day per kind come from the store's clear index (`wellpipe.cloud.db.history_days`),
one grouped query per provider.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Literal

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.connections import ConnectionInfo
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.history_days import kept_days
from wellpipe.cloud.services.tokens import connection_status
from wellpipe.core.history import Coverage, Span, Stream, merge_spans
from wellpipe.core.models import DataKind, DayRange
from wellpipe.core.reading import EARLIEST
from wellpipe.providers import available_providers, get_provider_info

__all__ = [
    "OLDEST_FIRST",
    "QUEUED_POLL",
    "BackfillState",
    "BackfillView",
    "HistoryView",
    "KindHistory",
    "ProviderHistory",
    "history_status",
    "provider_history",
]

OLDEST_FIRST = frozenset({"oura"})
"""Providers whose streams page oldest first (`wellpipe.providers.oura.sync`); the
others page newest first. A stream does not say which way it pages, so it is named here."""

QUEUED_POLL = timedelta(minutes=15)
"""How long after connecting the dashboard keeps asking whether a queued backfill began."""

BackfillState = Literal["not_started", "running", "done"]


@dataclass(frozen=True)
class KindHistory:
    """What is kept of one kind of record.

    Attributes:
        kind: The kind.
        records: Records kept.
        first: The oldest day covered (the oldest record's day when the covered days
            reach back before it), ``None`` when nothing is covered or kept.
        last: The newest day covered (or kept).
        gaps: The runs of days between covered spans, oldest first.
    """

    kind: DataKind
    records: int
    first: date | None
    last: date | None
    gaps: tuple[DayRange, ...] = ()


@dataclass(frozen=True)
class BackfillView:
    """Where the first read of a provider's whole history stands.

    Attributes:
        state: ``not_started``, ``running`` or ``done``.
        streams_done: Streams finished.
        streams_total: Streams of the provider.
        stream_kinds: The kinds of the stream under way (empty when none is).
        pages: Pages the stream under way stored so far.
        records: Records the stream under way stored so far.
        reached: The day the stream under way has read to: back to it (newest first)
            or up to it (oldest first).
        newest_first: Whether the provider pages newest first.
        fraction: The estimated share of the whole backfill done (0 to 1).
        queued: Not started, but the connection is new enough that the job may start
            any moment (the dashboard keeps asking).
    """

    state: BackfillState
    streams_done: int = 0
    streams_total: int = 0
    stream_kinds: tuple[DataKind, ...] = ()
    pages: int = 0
    records: int = 0
    reached: date | None = None
    newest_first: bool = True
    fraction: float = 0.0
    queued: bool = False

    @property
    def percent(self) -> int:
        """The estimate as a whole percentage, never 100 while the backfill runs."""
        if self.state == "done":
            return 100
        value = int(self.fraction * 100)
        return max(0, min(99, value))


@dataclass(frozen=True)
class ProviderHistory:
    """One connected provider's history, for the dashboard.

    Attributes:
        provider: The provider's name.
        display_name: Its name for people ("WHOOP").
        total: Records kept, every kind together.
        kinds: Per kind with records or covered days, in the provider's order.
        covered_from: The oldest day covered (see `KindHistory.first`).
        covered_to: The newest day covered.
        gaps: Runs of days inside ``covered_from``..``covered_to`` that no kind covers.
        partly_covered: Kinds with gaps of their own (another kind may cover those days).
        refreshed_at: When the newest days were last read, if ever.
        backfill: Where the first backfill stands.
    """

    provider: str
    display_name: str
    total: int
    kinds: tuple[KindHistory, ...]
    covered_from: date | None
    covered_to: date | None
    gaps: tuple[DayRange, ...]
    partly_covered: tuple[DataKind, ...]
    refreshed_at: datetime | None
    backfill: BackfillView

    @property
    def polling(self) -> bool:
        """Whether the dashboard should ask again in a few seconds."""
        return self.backfill.state == "running" or self.backfill.queued


@dataclass(frozen=True)
class HistoryView:
    """The history card: every connected provider, and the time it was made.

    Attributes:
        providers: One entry per connected provider, in the dashboard's order.
        now: When it was made (relative times are from here).
    """

    providers: tuple[ProviderHistory, ...]
    now: datetime
    by_name: dict[str, ProviderHistory] = field(default_factory=dict)

    @property
    def polling(self) -> bool:
        """Whether any provider's backfill is running (or about to start)."""
        return any(entry.polling for entry in self.providers)


# ------------------------------------------------------------ building blocks
def _streams(provider: str) -> tuple[Stream, ...]:
    """The provider's sync streams, in the order a backfill reads them."""
    try:
        module = importlib.import_module(f"wellpipe.providers.{provider}.sync")
    except ImportError:
        return ()
    streams: tuple[Stream, ...] = tuple(getattr(module, "STREAMS", ()))
    return streams


def _reaches_back(spans: Iterable[Span]) -> bool:
    return any(span.first <= EARLIEST for span in spans)


def _gaps(spans: Sequence[Span]) -> tuple[DayRange, ...]:
    """The days between consecutive spans (oldest first; spans already merged)."""
    return tuple(
        DayRange(first=before.last + timedelta(days=1), last=after.first - timedelta(days=1))
        for before, after in pairwise(spans)
    )


def _kind_history(
    kind: DataKind, coverage: Coverage, kept: tuple[date, date] | None
) -> KindHistory:
    spans = merge_spans(coverage.covered(kind))
    records = coverage.counts.get(kind, 0)
    first: date | None = None
    last: date | None = None
    if spans:
        first, last = spans[0].first, spans[-1].last
        if kept is not None:
            # Covered from 2010 means "everything the provider holds": say where it starts.
            first = min(max(first, kept[0]), last)
            last = max(last, kept[1])
    elif kept is not None:
        first, last = kept
    return KindHistory(kind=kind, records=records, first=first, last=last, gaps=_gaps(spans))


def _share(part_days: int, whole_days: int) -> float:
    if whole_days <= 0:
        return 1.0
    return max(0.0, min(1.0, part_days / whole_days))


def _backfill(
    provider: str,
    coverage: Coverage,
    kept: dict[DataKind, tuple[date, date]],
    *,
    connected_at: datetime | None,
    now: datetime,
) -> BackfillView:
    streams = _streams(provider)
    if not streams:
        return BackfillView(state="done" if coverage.total else "not_started")
    newest_first = provider not in OLDEST_FIRST
    done = [s for s in streams if s.name not in coverage.backfill and _stream_done(s, coverage)]
    total = len(streams)
    if len(done) == total:
        return BackfillView(
            state="done", streams_done=total, streams_total=total, newest_first=newest_first
        )
    running = [s for s in streams if s.name in coverage.backfill]
    if not done and not running:
        queued = connected_at is not None and now - connected_at <= QUEUED_POLL
        return BackfillView(
            state="not_started", streams_total=total, newest_first=newest_first, queued=queued
        )
    # Where the history starts, once a finished stream reached it.
    starts = [kept[k][0] for s in done for k in s.kinds if k in kept]
    origin = min(starts) if starts else None
    if not running:  # between two streams: the next one has not saved a page yet
        return BackfillView(
            state="running",
            streams_done=len(done),
            streams_total=total,
            newest_first=newest_first,
            fraction=len(done) / total,
        )
    current = running[0]
    cursor = coverage.backfill[current.name]
    window_start, window_end = cursor.window.start.date(), cursor.window.end.date()
    days = [kept[k] for k in current.kinds if k in kept]
    reached: date | None = None
    part = 0.0
    if days:
        oldest = min(first for first, _ in days)
        newest = min(max(last for _, last in days), window_end)
        if newest_first:
            reached = oldest
            start = min(origin or window_start, oldest)
            part = _share((window_end - oldest).days, (window_end - start).days)
        else:
            reached = newest
            start = min(origin or oldest, oldest)
            part = _share((newest - start).days, (window_end - start).days)
    return BackfillView(
        state="running",
        streams_done=len(done),
        streams_total=total,
        stream_kinds=tuple(sorted(current.kinds, key=_kind_order)),
        pages=cursor.pages,
        records=cursor.records,
        reached=reached,
        newest_first=newest_first,
        fraction=(len(done) + part) / total,
    )


def _stream_done(stream: Stream, coverage: Coverage) -> bool:
    return bool(stream.kinds) and all(
        _reaches_back(coverage.covered(kind)) for kind in stream.kinds
    )


_KIND_ORDER = {kind: index for index, kind in enumerate(DataKind)}


def _kind_order(kind: DataKind) -> int:
    return _KIND_ORDER[kind]


# ------------------------------------------------------------ the view
async def provider_history(
    ctx: CloudContext,
    user_id: str,
    provider: str,
    *,
    connected_at: datetime | None = None,
    now: datetime | None = None,
) -> ProviderHistory:
    """What is kept of ``provider`` for ``user_id`` (that user's rows only).

    Args:
        ctx: The service.
        user_id: The signed-in user.
        provider: A provider's name.
        connected_at: When the connection was made (a backfill not started soon after
            is reported as queued).
        now: The time relative times are from (the service's clock by default).
    """
    now = now or ctx.clock.now()
    coverage = await UserHistory.of(ctx, user_id).coverage(provider)
    kept = await kept_days(ctx.db, user_id, provider)
    info = get_provider_info(provider)
    order = [*info.kinds, *(kind for kind in DataKind if kind not in info.kinds)]
    shown = [
        kind
        for kind in sorted(order, key=_kind_order)
        if coverage.counts.get(kind) or coverage.covered(kind) or kind in kept
    ]
    kinds = tuple(_kind_history(kind, coverage, kept.get(kind)) for kind in shown)
    all_spans = merge_spans(span for kind in shown for span in coverage.covered(kind))
    covered = [entry for entry in kinds if entry.first is not None and coverage.covered(entry.kind)]
    covered_from = min((entry.first for entry in covered if entry.first), default=None)
    covered_to = max((entry.last for entry in covered if entry.last), default=None)
    gaps = tuple(
        gap for gap in _gaps(all_spans) if covered_from is not None and gap.last >= covered_from
    )
    refreshed = [span.refreshed_at for kind in shown for span in coverage.covered(kind)]
    return ProviderHistory(
        provider=provider,
        display_name=info.display_name,
        total=coverage.total,
        kinds=kinds,
        covered_from=covered_from,
        covered_to=covered_to,
        gaps=gaps,
        partly_covered=tuple(entry.kind for entry in kinds if entry.gaps),
        refreshed_at=max(refreshed) if refreshed else None,
        backfill=_backfill(provider, coverage, kept, connected_at=connected_at, now=now),
    )


async def history_status(
    ctx: CloudContext,
    user_id: str,
    connections: Collection[ConnectionInfo] | None = None,
) -> HistoryView:
    """The history card of ``user_id``: each connected provider, in the dashboard's order.

    Args:
        ctx: The service.
        user_id: The signed-in user (nobody else's rows are read).
        connections: The user's connections, when the caller already has them.
    """
    if connections is None:
        connections = await connection_status(ctx, user_id)
    by_provider = {info.provider: info for info in connections}
    now = ctx.clock.now()
    entries = []
    for name in available_providers():
        info = by_provider.get(name)
        if info is None:
            continue
        entries.append(
            await provider_history(ctx, user_id, name, connected_at=info.connected_at, now=now)
        )
    return HistoryView(
        providers=tuple(entries), now=now, by_name={entry.provider: entry for entry in entries}
    )
