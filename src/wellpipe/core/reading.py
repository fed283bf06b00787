"""Reading through one `HealthProvider` or several, day by day.

`Reader` is the one reader behind every face (the MCP tools, the cloud's REST API): it
asks the providers a question (the last N days, a range of days, one record, the
profiles) and answers with data, per source, plus notes. Faces only validate arguments and
render what it returns; they never read on their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Generic, Literal, TypeVar

import anyio

from wellpipe.core.errors import (
    InvalidRequest,
    NotFound,
    NotFoundAnywhere,
    UnsupportedDataKind,
    WellpipeError,
)
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
from wellpipe.core.patience import MULTI_PROVIDER_PATIENCE_S, patience
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "DAILY_KINDS",
    "EARLIEST",
    "LIVE_DAYS",
    "MAX_DAYS",
    "READ_KINDS",
    "ROW_PER_DAY_KINDS",
    "SUMMARY",
    "TIMED_KINDS",
    "FoundRecord",
    "Gap",
    "Gathered",
    "Profiles",
    "Reader",
    "Reading",
    "SourceFailure",
    "SourceProfile",
    "TableKind",
    "ask_each",
    "checked_range",
    "gap_note",
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

ROW_PER_DAY_KINDS = READ_KINDS - {DataKind.WORKOUT}
"""The kinds a provider offering them records every day (a day without one is a gap)."""

SUMMARY = "summary"
"""The daily summary: one entry per local day joining every kind."""

TableKind = Literal[
    "summary", "sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals"
]
"""What a question over days asks for: one kind of record, or the daily summary."""

MAX_DAYS = 3660
"""The longest period one question may cover (ten years): answered from the history store,
long periods summarised week by week or month by month by the faces."""

LIVE_DAYS = 90
"""The most days one question (or a ``fresh`` one) reads from a provider; longer periods must
be in the history store first (``wellpipe sync``; the cloud syncs by itself)."""

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
            f"the range covers {span} days but one request covers at most {MAX_DAYS} "
            "(ten years); split it into consecutive ranges"
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
    read = await ask_each(providers, ask)
    if not read.answers:
        failures = read.failures
        preferred = [f for f in failures if prefer is not None and isinstance(f.error, prefer)]
        raise (preferred or failures)[0].error
    return read


async def ask_each(
    providers: Sequence[HealthProvider], ask: Callable[[HealthProvider], Awaitable[T]]
) -> Gathered[T]:
    """Ask every provider at once; the answers and the failures apart (none may have answered).

    With several providers, each is asked with a `patience` of `MULTI_PROVIDER_PATIENCE_S`:
    one that asks Wellpipe to slow down for longer is left out (a `ProviderRateLimited`
    failure) instead of holding the others' answers.
    """
    outcomes: list[T | WellpipeError | None] = [None] * len(providers)

    async def one(index: int, provider: HealthProvider) -> None:
        try:
            outcomes[index] = await ask(provider)
        except WellpipeError as error:
            outcomes[index] = error

    async def beside_others(index: int, provider: HealthProvider) -> None:
        with patience(MULTI_PROVIDER_PATIENCE_S):
            await one(index, provider)

    if len(providers) == 1:  # nothing to run beside it: no task group, no patience
        await one(0, providers[0])
    elif providers:
        async with anyio.create_task_group() as group:
            for index, provider in enumerate(providers):
                group.start_soon(beside_others, index, provider)
    answers: list[tuple[ProviderInfo, T]] = []
    failures: list[SourceFailure] = []
    for provider, outcome in zip(providers, outcomes, strict=True):
        if isinstance(outcome, WellpipeError):
            failures.append(SourceFailure(provider.info, outcome))
        else:
            answers.append((provider.info, outcome))  # type: ignore[arg-type]
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
        today: Today, where the user is (as far as the data knows): a day from today on
            without a record may simply not be scored or synced yet.
    """

    kind: TableKind
    days: DayRange
    asked: tuple[ProviderInfo, ...]
    answers: tuple[tuple[ProviderInfo, RecordSet], ...]
    notes: tuple[str, ...]
    today: date | None = None

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

    def gaps(self) -> tuple[Gap, ...]:
        """For each answering provider, the days it has no record of the kind asked for.

        Only kinds a provider records every day count (`ROW_PER_DAY_KINDS`; for the
        summary, any record): a day without a workout is no gap. A provider whose read
        came back with notes (a permission not granted) and nothing of the kind is left
        to its note.
        """
        if self.kind != SUMMARY and DataKind(self.kind) not in ROW_PER_DAY_KINDS:
            return ()
        found: list[Gap] = []
        for info, records in self.answers:
            if self.kind == SUMMARY:
                mine = records.all()
            else:
                mine = list(records.of_kind(DataKind(self.kind)))
            if not mine and records.notes:
                continue
            recorded = {record.day for record in mine}
            missing = [day for day in self.days.days() if day not in recorded]
            if not missing:
                continue
            today = self.today or self.days.last
            found.append(
                Gap(
                    source=info,
                    past=tuple(day for day in missing if day < today),
                    today=today in missing,
                    future=tuple(day for day in missing if day > today),
                )
            )
        return tuple(found)


_GAP_NOUNS = {
    SUMMARY: "data",
    "sleep": "sleep",
    "recovery": "recovery",
    "cycle": "day strain",
    "readiness": "readiness",
    "activity": "activity",
    "vitals": "vitals",
}


def _spans(days: Sequence[date]) -> str:
    """Days as compact runs: ``2026-11-03, 2026-11-10 to 2026-11-12``."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]} to {run[-1]}" for run in runs)


def gap_note(reading: Reading) -> str | None:
    """One sentence naming the days without a row, per provider, and why (``None``: no gap).

    ``No readiness from Oura on 2026-11-03, 2026-11-10 to 2026-11-12 (no data from the
    device those days) or 2026-11-21 (today: not scored or synced yet).``
    """
    clauses: list[str] = []
    for gap in reading.gaps():
        why: list[str] = []
        if gap.past:
            those = "that day" if len(gap.past) == 1 else "those days"
            why.append(f"{_spans(gap.past)} (no data from the device {those})")
        if gap.today:
            why.append(f"{reading.today or reading.days.last} (today: not scored or synced yet)")
        if gap.future:
            why.append(f"{_spans(gap.future)} (still to come)")
        clauses.append(f"from {gap.source.display_name} on {' or '.join(why)}")
    if not clauses:
        return None
    return f"No {_GAP_NOUNS[reading.kind]} {'; '.join(clauses)}."


@dataclass(frozen=True)
class Gap:
    """Days one provider has no record for, where a record a day is the rule.

    Attributes:
        source: The provider.
        past: Days before today: the device recorded nothing (not worn, not synced).
        today: Whether today is one (it may not be scored or synced yet).
        future: Days after today (a range may end tomorrow): nothing yet, of course.
    """

    source: ProviderInfo
    past: tuple[date, ...]
    today: bool
    future: tuple[date, ...]


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

    def _reading(
        self, kind: TableKind, days: DayRange, read: Gathered[RecordSet], today: date
    ) -> Reading:
        """What was read, its notes last saying which days have no row and why."""
        reading = Reading(
            kind=kind,
            days=days,
            asked=tuple(p.info for p in offering(self.providers, _kinds(kind))),
            answers=read.answers,
            notes=(*self.notes, *read.notes),
            today=today,
        )
        gaps = gap_note(reading)
        return reading if gaps is None else replace(reading, notes=(*reading.notes, gaps))

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
        return self._reading(kind, span, read, span.last)

    async def between(self, kind: TableKind, first: date, last: date) -> Reading:
        """Explicit local days, ``first`` to ``last`` included.

        Raises:
            InvalidRequest: the range cannot be asked for (see `checked_range`).
            UnsupportedDataKind: no provider offers ``kind``.
            WellpipeError: every provider asked failed (the first one's error).
        """
        days = checked_range(first, last, today=self.today())
        read = await read_each(self.providers, _kinds(kind), days.query_window())
        everything = [r for _, records in read.answers for r in records.all()]
        today = self.clock.now().astimezone(latest_tz(everything, self.default_tz)).date()
        return self._reading(kind, days, read, today)

    async def record(self, kind: DataKind, source_id: str) -> FoundRecord:
        """The record from the provider that has it (ids are each provider's own).

        Every provider offering the kind is asked at once; the first (by name) that has
        it answers. When none of several has it, the sentence names every provider asked,
        each one that could not answer (rate-limited, down) as such.

        Raises:
            UnsupportedDataKind: no provider offers ``kind``.
            NotFound: the one provider asked has no such record.
            NotFoundAnywhere: none of several providers has it (some may have failed).
            WellpipeError: every provider failed otherwise (the first one's error).
        """
        wanted = source_id.strip()

        async def lookup(provider: HealthProvider) -> Record:
            return await provider.record(kind, wanted)

        asked = offering(self.providers, {kind})
        if not asked:
            raise WellpipeError("No provider offers this; connect one that does first.")
        found = await ask_each(asked, lookup)
        if found.answers:
            info, record = found.answers[0]
            return FoundRecord(source=info, record=record)
        failures = found.failures
        missing = [f.info.name for f in failures if isinstance(f.error, NotFound)]
        if len(failures) == 1 or not missing:
            raise failures[0].error
        raise NotFoundAnywhere(
            what=f"{kind.value} with id {wanted!r}",
            missing=missing,
            failed=[(f.info.name, f.error) for f in failures if not isinstance(f.error, NotFound)],
            display_names={p.info.name: p.info.display_name for p in asked},
        )

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
