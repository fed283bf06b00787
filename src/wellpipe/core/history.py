"""The history store's contract: every record kept once, per owner, provider, kind and id.

Two homes implement `HistoryStore`:

* self-hosted: a SQLite file in the Wellpipe home (`wellpipe.history.local`), stdlib
  ``sqlite3`` so that the stdio server's first answer does not pay for SQLAlchemy;
* cloud: the service's database (`wellpipe.cloud.db.history`), every record sealed
  under its owner's data key (envelope encryption).

Both are tested by one conformance suite (``tests/history/test_store_contract.py``).
What fills a store is `wellpipe.core.sync` (backfill and incremental sync, page by
page); what reads it is `wellpipe.core.stored.StoredProvider`, a `HealthProvider` that
answers from the store and asks the live provider only for what is missing or may still
change.

A store speaks in local days, the one index the cloud keeps in the clear: a record is
found by (provider, kind, day) or by (provider, kind, source id); everything else about
it (times, scores, state) lives inside its payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from pydantic import TypeAdapter

from wellpipe.core.models import (
    Cycle,
    DailyActivity,
    DailyVitals,
    DataKind,
    DayRange,
    Readiness,
    Record,
    RecordSet,
    Recovery,
    ScoredRecord,
    ScoreState,
    Sleep,
    TimeWindow,
    Workout,
)

__all__ = [
    "KIND_MODELS",
    "Coverage",
    "HistoryStore",
    "Page",
    "RecordLookup",
    "Span",
    "Stream",
    "SyncCursor",
    "SyncSource",
    "check_provider",
    "decode_record",
    "encode_record",
    "merge_spans",
    "record_kind",
    "record_set",
    "record_state",
]

KIND_MODELS: dict[DataKind, type[Record]] = {
    DataKind.SLEEP: Sleep,
    DataKind.RECOVERY: Recovery,
    DataKind.WORKOUT: Workout,
    DataKind.CYCLE: Cycle,
    DataKind.READINESS: Readiness,
    DataKind.ACTIVITY: DailyActivity,
    DataKind.VITALS: DailyVitals,
}
"""The core model of each kind a store keeps."""

_ADAPTERS: dict[DataKind, TypeAdapter[Record]] = {}


def record_kind(record: Record) -> DataKind:
    """The kind of a stored record (every storable model names its own)."""
    return DataKind(record.kind)  # type: ignore[attr-defined]


def encode_record(record: Record) -> bytes:
    """A record as the compact JSON a store keeps (its kind is in it)."""
    return record.model_dump_json(exclude_defaults=True).encode()


def decode_record(kind: DataKind, payload: bytes) -> Record:
    """The record `encode_record` wrote.

    Raises:
        pydantic.ValidationError: the payload is not a record of ``kind``.
    """
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(KIND_MODELS[kind])
    return adapter.validate_json(payload)


def check_provider(provider: str, records: Iterable[Record]) -> None:
    """Refuse records of another provider given to a store as ``provider``'s.

    Raises:
        ValueError: a record's provider is not ``provider``.
    """
    strangers = {record.provider for record in records} - {provider}
    if strangers:
        raise ValueError(f"records of {sorted(strangers)} given to store as {provider!r}")


def record_state(record: Record) -> str:
    """``scored``, ``pending`` or ``unscorable`` for scored records; ``final`` otherwise.

    Daily records without a score yet (Oura's readiness before the day is scored) are
    ``pending`` too: they may still change.
    """
    if isinstance(record, ScoredRecord):
        return ScoreState(record.score_state).value
    if isinstance(record, Readiness) and record.score_pct is None:
        return ScoreState.PENDING.value
    return "final"


def record_set(records: Iterable[Record]) -> RecordSet:
    """Records of any kinds as a `RecordSet`, each kind newest first."""
    by_kind: dict[DataKind, list[Record]] = {kind: [] for kind in KIND_MODELS}
    for record in records:
        by_kind[record_kind(record)].append(record)

    def newest_first(kind: DataKind) -> tuple[Record, ...]:
        return tuple(sorted(by_kind[kind], key=_recency, reverse=True))

    return RecordSet(
        sleeps=newest_first(DataKind.SLEEP),  # type: ignore[arg-type]
        recoveries=newest_first(DataKind.RECOVERY),  # type: ignore[arg-type]
        workouts=newest_first(DataKind.WORKOUT),  # type: ignore[arg-type]
        cycles=newest_first(DataKind.CYCLE),  # type: ignore[arg-type]
        readiness=newest_first(DataKind.READINESS),  # type: ignore[arg-type]
        activities=newest_first(DataKind.ACTIVITY),  # type: ignore[arg-type]
        vitals=newest_first(DataKind.VITALS),  # type: ignore[arg-type]
    )


def _recency(record: Record) -> tuple[date, datetime, str]:
    start = getattr(record, "start", None)
    instant = start.astimezone(UTC) if isinstance(start, datetime) else _DAWN
    return (record.day, instant, record.source_id)


_DAWN = datetime.min.replace(tzinfo=UTC)


# ------------------------------------------------------------ coverage
@dataclass(frozen=True, order=True)
class Span:
    """Local days ``first`` to ``last`` (inclusive) read from the provider in full.

    Attributes:
        first: The oldest day covered.
        last: The newest day covered.
        refreshed_at: When the newest days of the span were last read from the provider
            (records near ``last`` may still change; older ones have settled).
    """

    first: date
    last: date
    refreshed_at: datetime

    @property
    def days(self) -> DayRange:
        """The span as a day range."""
        return DayRange(first=self.first, last=self.last)


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Spans that touch or overlap, joined (oldest first).

    A join keeps the refresh time of the span that reaches further.
    """
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.first, s.last)):
        if merged and span.first <= merged[-1].last + timedelta(days=1):
            last = merged[-1]
            if span.last > last.last:
                refreshed = span.refreshed_at
            elif span.last == last.last:
                refreshed = max(span.refreshed_at, last.refreshed_at)
            else:
                refreshed = last.refreshed_at
            merged[-1] = Span(last.first, max(last.last, span.last), refreshed)
        else:
            merged.append(span)
    return tuple(merged)


@dataclass(frozen=True)
class Coverage:
    """What a store holds of one provider, kind by kind.

    Attributes:
        provider: The provider's name.
        spans: For each kind, the spans of days read in full (oldest first).
        counts: For each kind, how many records are kept.
        backfill: For each stream still backfilling, where it stands (absent: done or
            never started).
    """

    provider: str
    spans: dict[DataKind, tuple[Span, ...]] = field(default_factory=dict)
    counts: dict[DataKind, int] = field(default_factory=dict)
    backfill: dict[str, SyncCursor] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Records kept, every kind together."""
        return sum(self.counts.values())

    def covered(self, kind: DataKind) -> tuple[Span, ...]:
        """The spans of ``kind`` (none: nothing read in full yet)."""
        return self.spans.get(kind, ())


# ------------------------------------------------------------ sync
@dataclass(frozen=True)
class Stream:
    """One paginated collection a provider is synced through.

    Attributes:
        name: Unique within the provider (``"sleep"``, ``"daily_readiness"``).
        kinds: The kinds its records map to.
        page_size: Records per page (the largest the provider allows: fewest requests).
    """

    name: str
    kinds: frozenset[DataKind]
    page_size: int


@dataclass(frozen=True)
class Page:
    """One page of a stream, mapped to core records.

    Attributes:
        records: The page's records (any of the stream's kinds).
        cursor: What to pass to read the next page, ``None`` after the last.
        requests: Requests the page cost (1, more when records had to be placed by
            fetching a related record).
    """

    records: tuple[Record, ...]
    cursor: str | None
    requests: int = 1


@dataclass(frozen=True)
class SyncCursor:
    """Where a backfill of one stream stands, saved with every page it stores.

    Attributes:
        stream: The stream's name.
        window: The time window the backfill reads (fixed when it starts).
        cursor: The provider's next-page token (``None``: start of the window).
        pages: Pages stored so far.
        records: Records stored so far.
        requests: Requests spent so far.
        started_at: When this backfill started.
        done: Whether the stream reached its last page.
    """

    stream: str
    window: TimeWindow
    cursor: str | None
    pages: int = 0
    records: int = 0
    requests: int = 0
    started_at: datetime | None = None
    done: bool = False


class RecordLookup(Protocol):
    """Records already kept.

    For a provider that places one record by another (WHOOP's recovery by its sleep).
    """

    async def get(self, provider: str, kind: DataKind, source_id: str) -> Record | None:
        """The kept record, or ``None``."""
        ...


class SyncSource(Protocol):
    """A provider that can be synced page by page (every built-in provider)."""

    def streams(self) -> tuple[Stream, ...]:
        """The streams to backfill, in the order they must run.

        A stream whose records are placed by another's comes after it.
        """
        ...

    async def page(
        self,
        stream: str,
        window: TimeWindow,
        cursor: str | None,
        *,
        lookup: RecordLookup,
    ) -> Page:
        """One page of ``stream`` within ``window``, from ``cursor`` (``None``: the first).

        Raises:
            ProviderError: the page could not be read (nothing is stored; try again).
        """
        ...


# ------------------------------------------------------------ the store
class HistoryStore(Protocol):
    """Every record of one owner, kept once per (provider, kind, source id).

    A local store has one owner; a cloud store is opened for one user
    (`wellpipe.cloud.db.history.UserHistory`) and can never see another's rows.
    Every write is atomic: a page and its cursor are stored together or not at all.
    """

    async def put(self, records: Sequence[Record], *, now: datetime) -> int:
        """Insert or replace records by (provider, kind, source id); how many changed."""
        ...

    async def replace(
        self,
        provider: str,
        kinds: Collection[DataKind],
        days: DayRange,
        records: Sequence[Record],
        *,
        now: datetime,
    ) -> int:
        """Make ``days`` of ``kinds`` exactly ``records`` (a full re-read of those days).

        Records of those kinds kept for those days and absent from ``records`` are
        deleted (the provider deleted them); ``records`` are put; the days become covered,
        refreshed ``now``. Returns how many rows changed (put or deleted).
        """
        ...

    async def remove(self, provider: str, kind: DataKind, source_id: str) -> bool:
        """Delete one record (a provider's delete event); whether it was kept."""
        ...

    async def get(self, provider: str, kind: DataKind, source_id: str) -> Record | None:
        """One kept record, or ``None``."""
        ...

    async def read(self, provider: str, kinds: Collection[DataKind], days: DayRange) -> RecordSet:
        """Every kept record of ``kinds`` whose local day is in ``days``, newest first."""
        ...

    def scan(
        self,
        provider: str | None = None,
        kinds: Collection[DataKind] | None = None,
        since: date | None = None,
    ) -> AsyncIterator[Record]:
        """Every kept record, by provider, kind and day, never all in memory (export).

        Optionally of one provider, some kinds, from a day on.
        """
        ...

    async def coverage(self, provider: str) -> Coverage:
        """The spans, counts and backfill cursors of one provider."""
        ...

    async def cover(
        self, provider: str, kinds: Collection[DataKind], days: DayRange, *, now: datetime
    ) -> None:
        """Record that ``days`` of ``kinds`` were read in full ``now`` (spans merge)."""
        ...

    async def save_page(
        self,
        provider: str,
        records: Sequence[Record],
        cursor: SyncCursor,
        *,
        now: datetime,
    ) -> None:
        """Put one backfill page's records and its stream's cursor, atomically."""
        ...

    async def unsettled_days(
        self, provider: str, kinds: Collection[DataKind], since: date
    ) -> tuple[date, ...]:
        """Days from ``since`` on holding a record that may still change, oldest first."""
        ...

    async def forget(self, provider: str) -> int:
        """Delete everything kept of one provider (disconnect); how many records."""
        ...
