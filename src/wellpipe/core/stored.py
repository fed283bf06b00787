"""`StoredProvider`: a provider that answers from the history store.

It wraps the live `HealthProvider` and a `HistoryStore` and is itself a `HealthProvider`,
so the `Reader` (and every face above it) reads through it unchanged. For a read it
works out, kind by kind, which local days the store does not hold yet and which held
days may still change, reads only those from the provider (one request per page, as
ever), writes what came back into the store, and answers from the store:

* days never read: read them;
* the newest days (`Freshness.settle_days` before today, today and after) and days
  holding a record that is still pending: read them again once their last read is older
  than `Freshness.fresh_for`;
* everything else: never asked again (webhooks and the periodic sync keep it current).

A repeated question therefore costs no request, and a question over a synced year is a
read of the local store. `insist_live` (the tools' ``fresh`` argument) re-reads every day
asked about. A provider that fails while the store holds every day asked about still
answers, from the store, with a note saying how old the newest days are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import anyio

from wellpipe.core.errors import InvalidRequest, ProviderError, WellpipeError
from wellpipe.core.history import HistoryStore, Span, record_state
from wellpipe.core.models import (
    BodyMeasurement,
    DataKind,
    DayRange,
    Profile,
    Record,
    RecordSet,
    TimeWindow,
)
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.reading import LIVE_DAYS

__all__ = [
    "Freshness",
    "HistoryNotKept",
    "StoredProvider",
    "insist_live",
    "live_insisted",
    "plan_reads",
    "window_days",
]

_LIVE: ContextVar[bool] = ContextVar("wellpipe_insist_live", default=False)


@contextmanager
def insist_live() -> Iterator[None]:
    """Within this block, stored providers re-read every day asked about from the provider."""
    token = _LIVE.set(True)
    try:
        yield
    finally:
        _LIVE.reset(token)


def live_insisted() -> bool:
    """Whether the current read must go to the provider (`insist_live`)."""
    return _LIVE.get()


@dataclass(frozen=True)
class Freshness:
    """When kept records count as current.

    Attributes:
        settle_days: Days before today whose records may still change (a sleep scored
            late, a workout edited): they are re-read once stale.
        fresh_for: How long a read of those days stays current. With provider webhooks
            (the cloud) this can be long; the periodic sync catches what they miss.
        merge_gap_days: Two runs of days to read that are this close are read as one
            (one request per page instead of two partial pages).
    """

    settle_days: int = 3
    fresh_for: timedelta = timedelta(minutes=15)
    merge_gap_days: int = 14


def window_days(window: TimeWindow) -> DayRange:
    """The local days a time window can hold records of (UTC dates of its ends).

    Windows the reader asks for are already padded for every zone (`DayRange.query_window`),
    so their UTC dates include every local day asked about.
    """
    last = (window.end - timedelta(microseconds=1)).astimezone(UTC).date()
    first = window.start.astimezone(UTC).date()
    return DayRange(first=first, last=max(first, last))


def _covered(day: date, spans: Sequence[Span]) -> Span | None:
    for span in spans:
        if span.first <= day <= span.last:
            return span
    return None


def _runs(days: Sequence[date], gap: int) -> list[DayRange]:
    """Sorted days as ranges, runs closer than ``gap`` days joined."""
    runs: list[DayRange] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1].last).days <= gap + 1:
            runs[-1] = DayRange(first=runs[-1].first, last=day)
        else:
            runs.append(DayRange(first=day, last=day))
    return runs


def plan_reads(
    wanted: DayRange,
    spans: Sequence[Span],
    unsettled: Collection[date],
    *,
    now: datetime,
    freshness: Freshness,
    live: bool = False,
) -> list[DayRange]:
    """The runs of days to read from the provider for one kind (none: answer from the store).

    Args:
        wanted: The days asked about.
        spans: What the store holds of the kind.
        unsettled: Kept days holding a record that may still change.
        now: The current instant.
        freshness: When kept days count as current.
        live: Re-read every day (`insist_live`).
    """
    if live:
        return [wanted]
    tail = now.astimezone(UTC).date() - timedelta(days=freshness.settle_days + 1)
    stale_before = now - freshness.fresh_for
    to_read: list[date] = []
    for day in wanted.days():
        span = _covered(day, spans)
        changing = day >= tail or day in unsettled
        if span is None or (changing and span.refreshed_at < stale_before):
            to_read.append(day)
    return _runs(to_read, freshness.merge_gap_days)


_PADDING_DAYS = 5
"""Days a read window holds beyond the days asked about (zones, nights before the first day)."""


class HistoryNotKept(InvalidRequest):
    """A question over more days than one read may take, which the store does not hold."""

    def __init__(self, display_name: str, *, unread: int, live: bool, action: str) -> None:
        """Name the provider, how many days are missing and what to do."""
        if live:
            sentence = (
                f"A fresh read takes at most {LIVE_DAYS} days from {display_name} at a time, "
                f"and this one asks for {unread}: ask for fewer days, or leave out fresh to "
                "answer from the kept history."
            )
        else:
            sentence = (
                f"Wellpipe does not keep {unread} of these days of {display_name} yet, and "
                f"one question reads at most {LIVE_DAYS} days from it: {action}."
            )
        super().__init__(sentence)
        self.unread = unread


class StoredProvider:
    """A `HealthProvider` answering from a `HistoryStore`.

    It reads the live one only for what the store lacks or what may have changed (see the
    module docstring).

    Attributes:
        live: The provider itself.
        store: Where its records are kept.
    """

    def __init__(
        self,
        live: HealthProvider,
        store: HistoryStore,
        *,
        clock: Clock,
        freshness: Freshness | None = None,
        sync_action: str = f"sync the history first, or ask for at most {LIVE_DAYS} days",
    ) -> None:
        """Answer for ``live`` from ``store``.

        Args:
            live: The provider itself.
            store: Where its records are kept.
            clock: The current instant.
            freshness: When kept records count as current.
            sync_action: What the user can do about a question longer than `LIVE_DAYS`
                that the store does not hold yet, in the face's words (``run `wellpipe
                sync` first, or ask for at most 90 days``).
        """
        self.live = live
        self.store = store
        self.clock = clock
        self.freshness = freshness or Freshness()
        self.sync_action = sync_action
        self._reading = anyio.Lock()

    @property
    def info(self) -> ProviderInfo:
        """The live provider's facts."""
        return self.live.info

    async def plan(self, kinds: Collection[DataKind], days: DayRange) -> list[DayRange]:
        """The runs of days a read of ``kinds`` over ``days`` would ask the provider for."""
        wanted = frozenset(kinds) & self.info.kinds
        if not wanted:
            return []
        coverage = await self.store.coverage(self.info.name)
        now = self.clock.now()
        tail = now.astimezone(UTC).date() - timedelta(days=31)
        unsettled = set(await self.store.unsettled_days(self.info.name, wanted, tail))
        needed: list[date] = []
        for kind in wanted:
            for run in plan_reads(
                days,
                coverage.covered(kind),
                unsettled,
                now=now,
                freshness=self.freshness,
                live=live_insisted(),
            ):
                needed.extend(run.days())
        return _runs(needed, self.freshness.merge_gap_days)

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Every record of ``kinds`` on the local days ``window`` holds (see the module).

        Raises:
            UnsupportedDataKind: as the live provider does.
            ProviderError: the provider failed and the store lacks some day asked about.
            ReauthorizationRequired: the grant is dead (the store is not used to hide it).
        """
        wanted = frozenset(kinds)
        days = window_days(window)
        notes: list[str] = []
        # One read at a time plans and reads: questions asked together (a client sending
        # several calls at once) find what the first one read instead of reading it again.
        async with self._reading:
            runs = await self.plan(wanted, days)
            unread = sum(run.count for run in runs)
            if unread > LIVE_DAYS + _PADDING_DAYS:
                raise HistoryNotKept(
                    self.info.display_name,
                    unread=unread - _PADDING_DAYS,
                    live=live_insisted(),
                    action=self.sync_action,
                )
            for run in runs:
                try:
                    notes.extend(await self._read_live(wanted, run))
                except ProviderError as error:
                    if live_insisted() or not await self._held(wanted, days):
                        raise  # a fresh read was asked for: kept days are not what was asked
                    notes.append(self._stale_note(error))
        kept = await self.store.read(self.info.name, wanted, days)
        if notes:
            return kept.model_copy(update={"notes": tuple(dict.fromkeys(notes))})
        return kept

    async def _read_live(self, kinds: frozenset[DataKind], days: DayRange) -> tuple[str, ...]:
        """Read ``days`` from the provider into the store; the read's notes."""
        found = await self.live.read(kinds, days.query_window())
        now = self.clock.now()
        if found.notes:
            # Some kind could not be read (a permission not granted): keep what came back,
            # but neither delete nor mark anything covered on its word.
            await self.store.put(found.all(), now=now)
        else:
            await self.store.replace(
                self.info.name, kinds & self.info.kinds, days, found.all(), now=now
            )
        return found.notes

    async def _held(self, kinds: frozenset[DataKind], days: DayRange) -> bool:
        """Whether the store holds every day of ``days`` for every kind (stale or not)."""
        coverage = await self.store.coverage(self.info.name)
        return all(
            _covered(day, coverage.covered(kind)) is not None
            for kind in kinds & self.info.kinds
            for day in days.days()
        )

    def _stale_note(self, error: WellpipeError) -> str:
        return (
            f"{self.info.display_name} could not be asked for the newest days ({error}); "
            "this answer shows what Wellpipe kept from its last successful read."
        )

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """The kept record when it has settled; otherwise (or `insist_live`) the provider's."""
        if not live_insisted():
            kept = await self.store.get(self.info.name, kind, source_id.strip())
            if kept is not None and record_state(kept) in {"scored", "unscorable", "final"}:
                return kept
        found = await self.live.record(kind, source_id)
        await self.store.put([found], now=self.clock.now())
        return found

    async def profile(self) -> Profile:
        """The account holder's profile (not kept: read from the provider)."""
        return await self.live.profile()

    async def body_measurement(self) -> BodyMeasurement:
        """The account holder's body measurement (not kept: read from the provider)."""
        return await self.live.body_measurement()
