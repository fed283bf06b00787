"""Reading through one `HealthProvider` or several, day by day.

`Reader` is the one reader behind every face (the MCP tools, the cloud's REST API): it
asks the providers a question (the last N days, a range of days, one record, the
profiles) and answers with data, per source, plus notes. Faces only validate arguments and
render what it returns; they never read on their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Generic, Literal, TypeVar

import anyio

from wellpipe.core.errors import InvalidRequest, NotFound, UnsupportedDataKind, WellpipeError
from wellpipe.core.models import (
    BodyMeasurement,
    DataKind,
    DayRange,
    DaySummary,
    Profile,
    Record,
    RecordSet,
    TimeWindow,
    merge_timeline,
    summarize_days,
)
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "DAILY_KINDS",
    "EARLIEST",
    "MAX_DAYS",
    "READ_KINDS",
    "SUMMARY",
    "TIMED_KINDS",
    "FoundRecord",
    "Gathered",
    "Profiles",
    "Reader",
    "Reading",
    "SourceFailure",
    "SourceProfile",
    "TableKind",
    "checked_range",
    "gather",
    "latest_tz",
    "offering",
    "range_problem",
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

SUMMARY = "summary"
"""The daily summary: one entry per local day joining every kind."""

TableKind = Literal[
    "summary", "sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals"
]
"""What a question over days asks for: one kind of record, or the daily summary."""

MAX_DAYS = 90
"""The longest period one question may cover (a quarter: enough for trends, small enough to
answer)."""

EARLIEST = date(2010, 1, 1)
"""No wearable data is older; earlier days are refused (and cannot overflow a time window)."""


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


def range_problem(first: date, last: date, *, today: date | None = None) -> str | None:
    """What is wrong with asking for ``first`` to ``last`` (one sentence), or ``None``.

    Days out of order, more than `MAX_DAYS` of them, older than `EARLIEST`, or (when
    ``today`` is given) starting after tomorrow.
    """
    if last < first:
        return f"end ({last}) is before start ({first}); swap them"
    span = (last - first).days + 1
    if span > MAX_DAYS:
        return (
            f"the range covers {span} days but one request covers at most {MAX_DAYS}; "
            "split it into consecutive ranges"
        )
    if first < EARLIEST:
        return f"start ({first}) is too early; no wearable data is that old, ask from {EARLIEST}"
    if today is not None and first > today + timedelta(days=1):
        return f"start ({first}) is in the future; ask for days up to today ({today})"
    return None


def checked_range(first: date, last: date, *, today: date) -> DayRange:
    """``first`` to ``last`` as a range of days one question may ask for.

    Raises:
        InvalidRequest: see `range_problem` (the sentence says what to change).
    """
    problem = range_problem(first, last, today=today)
    if problem is not None:
        raise InvalidRequest(problem[0].upper() + problem[1:] + ".")
    return DayRange(first=first, last=last)


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

    if len(providers) == 1:  # nothing to run beside it: no task group to pay for
        await one(0, providers[0])
    else:
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


# ------------------------------------------------------------ the reader
def _kinds(kind: TableKind) -> frozenset[DataKind]:
    """The kinds a question about ``kind`` reads (the summary: every kind a day joins)."""
    return READ_KINDS if kind == SUMMARY else frozenset({DataKind(kind)})


@dataclass(frozen=True)
class Reading:
    """What a question over days read: each answering provider's records, and notes.

    Attributes:
        kind: What was asked for (a kind of record, or the summary).
        days: The local days asked about.
        asked: The providers asked (those offering the kind), by name.
        answers: ``(provider, records)`` for each provider that answered, in that order.
        notes: Sentences about what was left out and what to do (connections left out,
            providers that failed, permissions not granted), connections first.
    """

    kind: TableKind
    days: DayRange
    asked: tuple[ProviderInfo, ...]
    answers: tuple[tuple[ProviderInfo, RecordSet], ...]
    notes: tuple[str, ...]

    @property
    def merged(self) -> bool:
        """Whether several providers were asked (rows then say which source they are from)."""
        return len(self.asked) > 1

    @property
    def sources(self) -> tuple[ProviderInfo, ...]:
        """The providers that answered, in order."""
        return tuple(info for info, _ in self.answers)

    def records(self) -> list[Record]:
        """The records of the kind asked for on the days asked about (any order).

        Raises:
            ValueError: the question was the summary (use `summary`).
        """
        if self.kind == SUMMARY:
            raise ValueError("a summary reading has days, not records: use summary()")
        kind = DataKind(self.kind)
        return [
            record
            for _, found in self.answers
            for record in found.of_kind(kind)
            if self.days.includes(record.day)
        ]

    def summary(self) -> list[DaySummary]:
        """One entry per day, oldest first; per day and source when several were asked."""
        if self.merged:
            sources = [(info.name, found.all()) for info, found in self.answers]
            return merge_timeline(sources, self.days)
        found = self.answers[0][1].all() if self.answers else []
        return summarize_days(found, self.days)


@dataclass(frozen=True)
class FoundRecord:
    """One record, and the provider that had it."""

    source: ProviderInfo
    record: Record


@dataclass(frozen=True)
class SourceProfile:
    """Who the data belongs to, as one provider knows them."""

    source: ProviderInfo
    profile: Profile
    body: BodyMeasurement | None


@dataclass(frozen=True)
class Profiles:
    """Every answering provider's view of the account holder, and notes."""

    sources: tuple[SourceProfile, ...]
    notes: tuple[str, ...]


class Reader:
    """The one reader behind every face: questions in, data per source and notes out.

    It reads the given providers (every connected one, or the one asked for); with
    several, one that fails is left out with a note while another answers, and the
    error is the answer only when none does.
    """

    def __init__(
        self,
        providers: Sequence[HealthProvider],
        *,
        clock: Clock,
        default_tz: tzinfo = UTC,
        notes: Sequence[str] = (),
    ) -> None:
        """Read ``providers``.

        Args:
            providers: What to read, by name (at least one).
            clock: Today.
            default_tz: The user's zone when no record says otherwise.
            notes: Sentences about connections left out (a grant to renew), kept first
                in every answer's notes.
        """
        self.providers = tuple(providers)
        self.clock = clock
        self.default_tz = default_tz
        self.notes = tuple(notes)

    def today(self) -> date:
        """Today in the user's zone (as far as the reader knows it)."""
        return self.clock.now().astimezone(self.default_tz).date()

    def _reading(self, kind: TableKind, days: DayRange, read: Gathered[RecordSet]) -> Reading:
        return Reading(
            kind=kind,
            days=days,
            asked=tuple(p.info for p in offering(self.providers, _kinds(kind))),
            answers=read.answers,
            notes=(*self.notes, *read.notes),
        )

    async def recent(self, kind: TableKind, days: int) -> Reading:
        """The last ``days`` local days, today included (today where the newest record is).

        Raises:
            UnsupportedDataKind: no provider offers ``kind``.
            WellpipeError: every provider asked failed (the first one's error).
        """
        span, read = await read_recent_each(
            self.providers,
            _kinds(kind),
            days,
            now=self.clock.now(),
            default_tz=self.default_tz,
        )
        return self._reading(kind, span, read)

    async def between(self, kind: TableKind, first: date, last: date) -> Reading:
        """Explicit local days, ``first`` to ``last`` included.

        Raises:
            InvalidRequest: the range cannot be asked for (see `checked_range`).
            UnsupportedDataKind: no provider offers ``kind``.
            WellpipeError: every provider asked failed (the first one's error).
        """
        days = checked_range(first, last, today=self.today())
        read = await read_each(self.providers, _kinds(kind), days.query_window())
        return self._reading(kind, days, read)

    async def record(self, kind: DataKind, source_id: str) -> FoundRecord:
        """The record from the provider that has it (ids are each provider's own).

        Every provider offering the kind is asked at once; the first (by name) that has
        it answers. When none has it, a "no such record" sentence wins over other
        failures (another provider's id is often malformed for the rest).

        Raises:
            UnsupportedDataKind: no provider offers ``kind``.
            NotFound: no provider has the id.
            WellpipeError: every provider failed otherwise.
        """

        async def lookup(provider: HealthProvider) -> Record:
            return await provider.record(kind, source_id.strip())

        found = await gather(offering(self.providers, {kind}), lookup, prefer=NotFound)
        info, record = found.answers[0]
        return FoundRecord(source=info, record=record)

    async def profiles(self) -> Profiles:
        """Each provider's profile and body measurement (``None`` when it holds none).

        Raises:
            WellpipeError: every provider failed (the first one's error).
        """

        async def one(provider: HealthProvider) -> SourceProfile:
            profile = await provider.profile()
            try:
                body: BodyMeasurement | None = await provider.body_measurement()
            except NotFound:
                body = None
            return SourceProfile(source=provider.info, profile=profile, body=body)

        read = await gather(self.providers, one)
        return Profiles(
            sources=tuple(answer for _, answer in read.answers),
            notes=(*self.notes, *read.notes),
        )
