"""Reading through one `HealthProvider` or several, day by day."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Generic, TypeVar

import anyio

from wellpipe.core.errors import UnsupportedDataKind, WellpipeError
from wellpipe.core.models import (
    DataKind,
    DayRange,
    DaySummary,
    Record,
    RecordSet,
    TimeWindow,
    summarize_days,
)
from wellpipe.core.ports import HealthProvider
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "DAILY_KINDS",
    "READ_KINDS",
    "TIMED_KINDS",
    "Gathered",
    "SourceFailure",
    "gather",
    "latest_tz",
    "offering",
    "read_days",
    "read_each",
    "read_recent",
    "read_recent_each",
    "recent_window",
]

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


# ------------------------------------------------------------ several sources
T = TypeVar("T")


@dataclass(frozen=True)
class SourceFailure:
    """One provider that could not answer while others did."""

    info: ProviderInfo
    error: WellpipeError

    @property
    def note(self) -> str:
        """One sentence naming the provider, what happened and what to do."""
        return f"{self.info.display_name} left out: {self.error}"


@dataclass(frozen=True)
class Gathered(Generic[T]):
    """What each of several providers answered, in the providers' order.

    Attributes:
        answers: ``(provider info, answer)`` for every provider that answered.
        failures: Every provider that raised a `WellpipeError` instead.
    """

    answers: tuple[tuple[ProviderInfo, T], ...]
    failures: tuple[SourceFailure, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """A sentence per failed provider, then each read's own notes (`RecordSet.notes`)."""
        own = [
            note
            for _, answer in self.answers
            if isinstance(answer, RecordSet)
            for note in answer.notes
        ]
        return (*(failure.note for failure in self.failures), *own)


async def gather(
    providers: Sequence[HealthProvider],
    ask: Callable[[HealthProvider], Awaitable[T]],
    *,
    prefer: type[WellpipeError] | None = None,
) -> Gathered[T]:
    """Ask every provider at once; keep the answers and the failures apart.

    Raises:
        WellpipeError: every provider failed (the first one's error, in the
            providers' order; the first of type ``prefer`` when there is one),
            or there was no provider to ask.
    """
    if not providers:
        raise WellpipeError("No provider offers this; connect one that does first.")
    outcomes: list[T | WellpipeError | None] = [None] * len(providers)

    async def one(index: int, provider: HealthProvider) -> None:
        try:
            outcomes[index] = await ask(provider)
        except WellpipeError as error:
            outcomes[index] = error

    async with anyio.create_task_group() as group:
        for index, provider in enumerate(providers):
            group.start_soon(one, index, provider)
    answers: list[tuple[ProviderInfo, T]] = []
    failures: list[SourceFailure] = []
    for provider, outcome in zip(providers, outcomes, strict=True):
        if isinstance(outcome, WellpipeError):
            failures.append(SourceFailure(provider.info, outcome))
        else:
            answers.append((provider.info, outcome))  # type: ignore[arg-type]
    if not answers:
        preferred = [f for f in failures if prefer is not None and isinstance(f.error, prefer)]
        raise (preferred or failures)[0].error
    return Gathered(answers=tuple(answers), failures=tuple(failures))


def offering(
    providers: Sequence[HealthProvider], kinds: Collection[DataKind]
) -> list[HealthProvider]:
    """The providers that offer at least one of ``kinds``.

    Raises:
        UnsupportedDataKind: none does (named after the first provider).
    """
    found = [p for p in providers if p.info.kinds & set(kinds)]
    if not found and providers:
        first = providers[0].info
        raise UnsupportedDataKind(
            provider=first.name,
            kind=", ".join(sorted(kinds)),
            supported=sorted(k.value for k in first.kinds & READ_KINDS),
        )
    return found


async def read_each(
    providers: Sequence[HealthProvider],
    kinds: Collection[DataKind],
    window: TimeWindow,
) -> Gathered[RecordSet]:
    """Every provider's records of the ``kinds`` it offers over ``window``, read at once.

    Providers offering none of ``kinds`` are not asked; one that fails is a
    `SourceFailure` while any other answers.
    """
    wanted = set(kinds)

    async def read(provider: HealthProvider) -> RecordSet:
        return await provider.read(wanted & provider.info.kinds, window)

    return await gather(offering(providers, wanted), read)


async def read_recent_each(
    providers: Sequence[HealthProvider],
    kinds: Collection[DataKind],
    days: int,
    *,
    now: datetime,
    default_tz: tzinfo = UTC,
) -> tuple[DayRange, Gathered[RecordSet]]:
    """`read_recent` over several providers, as one range of days.

    Today is today where the newest record of any of them was taken.
    """
    gathered = await read_each(providers, kinds, recent_window(days, now=now).query_window())
    everything = [r for _, records in gathered.answers for r in records.all()]
    tz = latest_tz(everything, default_tz)
    return DayRange.last_days(days, now=now, tz=tz), gathered
