"""`FitbitProvider`: Google Health behind the provider-neutral `HealthProvider` port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import anyio
import httpx2

from wellpipe.core.errors import (
    NotFound,
    ProviderResponseError,
    ScopeNotGranted,
    UnsupportedDataKind,
    listed,
)
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import (
    BodyMeasurement,
    DataKind,
    Profile,
    Record,
    RecordSet,
    TimeWindow,
)
from wellpipe.core.ports import Clock, TokenProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.net import (
    RequestBudget,
    RetryPolicy,
    Throttle,
)
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.fitbit import mapping
from wellpipe.providers.fitbit import schemas as wire
from wellpipe.providers.fitbit.client import GoogleHealthClient
from wellpipe.providers.fitbit.info import INFO, PER_USER_LIMIT
from wellpipe.providers.fitbit.oauth import fitbit_oauth_client
from wellpipe.providers.fitbit.settings import FitbitSettings
from wellpipe.providers.reading import Mapper, first_failure
from wellpipe.providers.session import open_session

__all__ = ["FitbitProvider", "UserBudget", "civil_days", "open_fitbit"]

_READ = frozenset({DataKind.SLEEP, DataKind.WORKOUT, DataKind.ACTIVITY, DataKind.VITALS})
_BY_DAY = frozenset({DataKind.ACTIVITY, DataKind.VITALS})
_WIDEST_WEST = timedelta(hours=12)
_WIDEST_EAST = timedelta(hours=14)

T = TypeVar("T")
CoreT = TypeVar("CoreT")
_MAP = Mapper(INFO.name)


def civil_days(window: TimeWindow) -> tuple[date, date]:
    """The civil days ``[first, end)`` a record in ``window`` could belong to, at any UTC offset."""
    first = (window.start.astimezone(UTC) - _WIDEST_WEST).date()
    end = (window.end.astimezone(UTC) + _WIDEST_EAST).date() + timedelta(days=1)
    return first, end


def _civil_filter(field_name: str, first: date, end: date) -> str:
    return f'{field_name} >= "{first.isoformat()}" AND {field_name} < "{end.isoformat()}"'


@dataclass
class _Reads:
    """What one `read` gathered: wire points per kind, and the refusals of missing scopes."""

    points: dict[DataKind, list[Any]] = field(default_factory=dict)
    attempted: dict[DataKind, int] = field(default_factory=dict)
    refused: dict[DataKind, list[ScopeNotGranted]] = field(default_factory=dict)


class FitbitProvider:
    """One Google Health user's data, as core records."""

    def __init__(self, client: GoogleHealthClient, *, tokens: TokenProvider | None = None) -> None:
        """Create a provider.

        Args:
            client: The user's Google Health client.
            tokens: The user's tokens, needed only by `revoke`.
        """
        self.client = client
        self._tokens = tokens

    @property
    def info(self) -> ProviderInfo:
        """Google Health's facts."""
        return INFO

    # ------------------------------------------------------------ reading
    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Every record of ``kinds`` whose civil day could fall in ``window``, newest first.

        Each Google type is read concurrently. A type Google refuses for a
        missing scope is left out and named in `RecordSet.notes`, as long as
        something else could be read; when nothing could, the refusal is raised.

        * sleep: ``reconcile`` on the civil **end** date;
        * workouts: ``reconcile`` of ``exercise`` on the civil start date;
        * activity: ``dailyRollUp`` (merged across sources, never double-counted);
        * vitals: ``reconcile`` of the daily types by ``date`` and of ``weight``.
        """
        wanted = set(kinds)
        if not wanted <= _READ:
            raise UnsupportedDataKind(
                provider=INFO.name,
                kind=", ".join(sorted(wanted - _READ)),
                supported=sorted(_READ),
            )
        if not wanted:
            return RecordSet()
        first, end = civil_days(window)
        reads = _Reads()
        jobs: list[tuple[DataKind, Callable[[], Awaitable[list[Any]]]]] = []
        if DataKind.SLEEP in wanted:
            jobs.append((DataKind.SLEEP, lambda: self._sleeps(first, end)))
        if DataKind.WORKOUT in wanted:
            jobs.append((DataKind.WORKOUT, lambda: self._exercises(first, end)))
        if DataKind.ACTIVITY in wanted:
            jobs.extend(
                (DataKind.ACTIVITY, _bind(self._rollups, t, first, end))
                for t in mapping.ACTIVITY_ROLLUP_TYPES
            )
        if DataKind.VITALS in wanted:
            jobs.extend(
                (DataKind.VITALS, _bind(self._daily, t, first, end))
                for t in mapping.VITALS_DAILY_TYPES
            )
            jobs.append((DataKind.VITALS, lambda: self._weights(first, end)))

        try:
            async with anyio.create_task_group() as group:
                for kind, job in jobs:
                    reads.attempted[kind] = reads.attempted.get(kind, 0) + 1
                    group.start_soon(_gather, kind, job, reads)
        except ExceptionGroup as failures:
            raise first_failure(failures) from None

        refusals = [error for errors in reads.refused.values() for error in errors]
        failed = {k for k, n in reads.attempted.items() if len(reads.refused.get(k, ())) == n}
        if refusals and failed == wanted:
            raise refusals[0]
        notes = tuple(str(error) for error in _by_scope(refusals))
        got = reads.points
        return RecordSet(
            sleeps=_mapped(got.get(DataKind.SLEEP, []), mapping.sleep_to_core, "sleep"),
            workouts=_mapped(got.get(DataKind.WORKOUT, []), mapping.workout_to_core, "workout"),
            activities=_mapped_all(
                got.get(DataKind.ACTIVITY, []), mapping.activities_to_core, "activity"
            )
            if DataKind.ACTIVITY not in failed
            else (),
            vitals=_mapped_all(got.get(DataKind.VITALS, []), mapping.vitals_to_core, "vitals")
            if DataKind.VITALS not in failed
            else (),
            notes=notes,
        )

    async def _sleeps(self, first: date, end: date) -> list[wire.ReconciledDataPoint]:
        query = _civil_filter("sleep.interval.civil_end_time", first, end)
        points = [p async for p in self.client.reconcile("sleep", filter=query)]
        return sorted(
            (p for p in points if p.sleep is not None),
            key=lambda p: p.sleep.interval.endTime,  # type: ignore[union-attr]
            reverse=True,
        )

    async def _exercises(self, first: date, end: date) -> list[wire.ReconciledDataPoint]:
        query = _civil_filter("exercise.interval.civil_start_time", first, end)
        points = [p async for p in self.client.reconcile("exercise", filter=query)]
        return sorted(
            (p for p in points if p.exercise is not None),
            key=lambda p: p.exercise.interval.startTime,  # type: ignore[union-attr]
            reverse=True,
        )

    async def _rollups(
        self, data_type: str, first: date, end: date
    ) -> list[wire.DailyRollupDataPoint]:
        return await self.client.daily_roll_up(data_type, first=first, end=end)

    async def _daily(
        self, data_type: str, first: date, end: date
    ) -> list[wire.ReconciledDataPoint]:
        query = _civil_filter(f"{data_type.replace('-', '_')}.date", first, end)
        return [p async for p in self.client.reconcile(data_type, filter=query)]

    async def _weights(self, first: date, end: date) -> list[wire.ReconciledDataPoint]:
        query = _civil_filter("weight.sample_time.civil_time", first, end)
        return [p async for p in self.client.reconcile("weight", filter=query)]

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record by its id: a sleep or exercise id, or a civil date for a daily kind.

        Daily records (activity, vitals) have no id at Google; Wellpipe names
        them by their date (``2026-11-21``).
        """
        what = f"{kind.value} with id {source_id!r}"
        if kind in _BY_DAY:
            try:
                day = date.fromisoformat(source_id)
            except ValueError:
                raise NotFound(provider=INFO.name, endpoint=None, what=what) from None
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            records = await self.read({kind}, TimeWindow(start=noon, end=noon + timedelta(hours=1)))
            found = [r for r in records.of_kind(kind) if r.day == day]
            if not found:
                raise NotFound(provider=INFO.name, endpoint=None, what=what)
            return found[0]
        if kind is DataKind.SLEEP:
            point = await self.client.get("sleep", source_id)
            return _map_one(point, mapping.sleep_to_core, "sleep")
        if kind is DataKind.WORKOUT:
            point = await self.client.get("exercise", source_id)
            return _map_one(point, mapping.workout_to_core, "workout")
        raise UnsupportedDataKind(provider=INFO.name, kind=kind.value, supported=sorted(_READ))

    # ------------------------------------------------------------ sync (`SyncSource`)
    def streams(self) -> tuple[Stream, ...]:
        """Sleep, exercise, vitals, then activity (`wellpipe.providers.fitbit.sync`)."""
        from wellpipe.providers.fitbit import sync

        return sync.STREAMS

    async def page(
        self, stream: str, window: TimeWindow, cursor: str | None, *, lookup: RecordLookup
    ) -> Page:
        """One page of a stream; activity walks back in chunks of days."""
        from wellpipe.providers.fitbit import sync

        return await sync.sync_page(self.client, stream, window, cursor, lookup=lookup)

    async def profile(self) -> Profile:
        """The user's Google Health id and, when the profile scope was granted, their age."""
        identity = await self.client.get_identity()
        try:
            profile: wire.Profile | None = await self.client.get_profile()
        except ScopeNotGranted:
            profile = None
        return mapping.profile_to_core(identity, profile)

    async def body_measurement(self) -> BodyMeasurement:
        """The latest weigh-in and height Google holds."""
        weight = await _latest(self.client.list_points("weight", page_size=1))
        height = await _latest(self.client.list_points("height", page_size=1))
        return mapping.body_measurement_to_core(
            weight.weight if weight is not None else None,
            height.height if height is not None else None,
        )

    async def revoke(self) -> None:
        """Revoke this app's grant at Google (the refresh token and its access tokens die)."""
        if self._tokens is None:
            raise ValueError("this provider was built without the user's tokens")
        token = await self._tokens.get_refresh_token() or await self._tokens.get_access_token()
        if token is not None:
            await self.client.revoke_token(token)


def _bind(
    read: Callable[[str, date, date], Awaitable[list[T]]], data_type: str, first: date, end: date
) -> Callable[[], Awaitable[list[T]]]:
    return lambda: read(data_type, first, end)


async def _gather(kind: DataKind, job: Callable[[], Awaitable[list[Any]]], reads: _Reads) -> None:
    try:
        found = await job()
    except ScopeNotGranted as refused:
        reads.refused.setdefault(kind, []).append(refused)
        return
    reads.points.setdefault(kind, []).extend(found)


def _by_scope(refusals: list[ScopeNotGranted]) -> list[ScopeNotGranted]:
    """One refusal per missing scope, naming everything it cost."""
    grouped: dict[str, list[ScopeNotGranted]] = {}
    for refusal in refusals:
        grouped.setdefault(refusal.scope, []).append(refusal)
    return [
        ScopeNotGranted(
            provider=INFO.name,
            scope=scope,
            needed_for=listed(list(dict.fromkeys(r.needed_for for r in same))),
            action=same[0].action,
        )
        for scope, same in grouped.items()
    ]


async def _latest(points: AsyncIterator[wire.DataPoint]) -> wire.DataPoint | None:
    async for point in points:
        return point
    return None


def _map_one(item: T, convert: Callable[[T], CoreT], kind: str) -> CoreT:
    try:
        return _MAP.one(item, convert, kind)
    except ValueError as exc:
        raise ProviderResponseError(
            provider=INFO.name, endpoint=None, problem=f"a {kind} is unusable ({exc})"
        ) from None


def _mapped(items: list[T], convert: Callable[[T], CoreT], kind: str) -> tuple[CoreT, ...]:
    return tuple(_map_one(item, convert, kind) for item in items)


def _mapped_all(
    items: list[T], convert: Callable[[list[T]], list[CoreT]], kind: str
) -> tuple[CoreT, ...]:
    return tuple(_map_one(items, convert, kind))


class UserBudget:
    """The app's request budget with one user's on top (Google: 300 a minute per user).

    Requests wait for room in both. A 429 pauses only this user's requests:
    Google's per-user limit is the one a single reader can reach.
    """

    def __init__(self, app: RequestBudget, user: RequestBudget) -> None:
        """Combine the app's shared budget with this user's own."""
        self._app = app
        self._user = user

    async def acquire(self, endpoint: str | None = None) -> None:
        """Wait for room in the user's budget, then in the app's."""
        await self._user.acquire(endpoint)
        await self._app.acquire(endpoint)

    def pause(self, seconds: float) -> None:
        """Hold this user's requests."""
        self._user.pause(seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Pass the response's rate-limit headers to both budgets."""
        self._user.observe(headers)
        self._app.observe(headers)


@asynccontextmanager
async def open_fitbit(
    *,
    credentials: ClientCredentials,
    tokens: TokenProvider,
    settings: FitbitSettings | None = None,
    clock: Clock | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: RequestBudget | None = None,
    retry: RetryPolicy = RetryPolicy(),
    reconnect_action: str | None = None,
    credentials_hint: str | None = None,
) -> AsyncIterator[FitbitProvider]:
    """A ready `FitbitProvider` for one user, owning its HTTP client.

    Args:
        credentials: The Google Cloud OAuth client.
        tokens: The user's tokens; refreshed access tokens are written back here.
        settings: Where Google lives (defaults read ``WELLPIPE_FITBIT_*``).
        clock: Time source.
        transport: An `httpx2` async transport to use instead of the network
            (e.g. the in-process sandbox).
        throttle: The app's request budget; pass one shared instance when a
            process serves several users of one app. This user's own limit
            (`PER_USER_LIMIT`) is added on top.
        retry: Retry policy for data requests.
        reconnect_action: What to tell a user whose grant is dead.
        credentials_hint: What to tell a user whose client id/secret Google rejects.
    """
    settings = settings or FitbitSettings()

    async with open_session(
        INFO,
        settings,
        fitbit_oauth_client,
        credentials=credentials,
        credentials_hint=credentials_hint,
        tokens=tokens,
        clock=clock,
        transport=transport,
        throttle=throttle,
        reconnect_action=reconnect_action,
    ) as session:
        user_budget = Throttle((PER_USER_LIMIT,), clock=session.clock, provider=INFO.name)
        client = GoogleHealthClient(
            session.http,
            auth=session.auth,
            clock=session.clock,
            throttle=UserBudget(session.throttle, user_budget),
            retry=retry,
            reconnect_action=reconnect_action,
            revoke_url=settings.revoke_url,
        )
        yield FitbitProvider(client, tokens=tokens)
