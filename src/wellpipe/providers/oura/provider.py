"""`OuraProvider`: Oura behind the provider-neutral `HealthProvider` port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import anyio
import httpx2

from wellpipe.core.errors import (
    NotFound,
    ReauthorizationRequired,
    ScopeNotGranted,
    UnsupportedDataKind,
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
)
from wellpipe.oauth import ClientCredentials, TokenRefresher
from wellpipe.providers.oura import mapping
from wellpipe.providers.oura.client import OuraClient
from wellpipe.providers.oura.info import INFO
from wellpipe.providers.oura.oauth import oura_oauth_client
from wellpipe.providers.oura.settings import OuraSettings
from wellpipe.providers.reading import Mapper, first_failure
from wellpipe.providers.session import open_session

__all__ = ["OuraProvider", "open_oura", "query_days"]

READ_KINDS: Final = frozenset(
    {DataKind.SLEEP, DataKind.READINESS, DataKind.ACTIVITY, DataKind.VITALS, DataKind.WORKOUT}
)

_PRIMARY: Final[dict[DataKind, tuple[str, ...]]] = {
    DataKind.SLEEP: ("sleep",),
    DataKind.READINESS: ("daily_readiness",),
    DataKind.ACTIVITY: ("daily_activity",),
    DataKind.WORKOUT: ("workout",),
    DataKind.VITALS: (),
}
"""Routes a kind cannot do without: one refused drops the kind."""

_SECONDARY: Final[dict[DataKind, tuple[str, ...]]] = {
    DataKind.SLEEP: ("daily_sleep",),
    DataKind.READINESS: (),
    DataKind.ACTIVITY: (),
    DataKind.WORKOUT: (),
    DataKind.VITALS: ("daily_spo2", "daily_stress", "vO2_max", "daily_readiness", "sleep"),
}
"""Routes that add to a kind: one refused leaves a note; all refused drops the kind."""

_DOCUMENT_ID: Final = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")

_ONE_DAY: Final = timedelta(days=1)

_MAP: Final = Mapper(INFO.name)


def query_days(window: TimeWindow) -> tuple[date, date]:
    """The ``start_date`` and ``end_date`` to ask Oura for so every record of ``window`` comes back.

    Oura's list routes take local days, not instants. An instant of the UTC
    window falls on a local day between its date at UTC-12:00 and at UTC+14:00,
    so those are the days that can hold a record of the window.

    Oura's OpenAPI document does not say whether ``start_date`` and ``end_date``
    are inclusive, and members report that they differ between routes (``sleep``
    has been seen to leave out records of ``start_date``; daily routes compare
    ``end_date`` with each document's timestamp, so a bare date means its
    midnight and leaves out that day). Wellpipe therefore asks for one more day
    on each side. Records may come back for days outside the window: callers
    keep those whose ``day`` they want.
    """
    first = (window.start.astimezone(UTC) - timedelta(hours=12)).date()
    last = (window.end.astimezone(UTC) + timedelta(hours=14)).date()
    return first - _ONE_DAY, last + _ONE_DAY


@dataclass
class _Routes:
    """What each route returned for one read, or why Oura refused it."""

    data: dict[str, list[Any]] = field(default_factory=dict)
    refused: dict[str, ScopeNotGranted] = field(default_factory=dict)

    def get(self, route: str) -> list[Any]:
        return self.data.get(route, [])


class OuraProvider:
    """One Oura member's data, as core records."""

    def __init__(self, client: OuraClient, *, refresher: TokenRefresher | None = None) -> None:
        """Create a provider.

        Args:
            client: The member's `OuraClient`.
            refresher: Where `revoke` gets the access token to revoke.
        """
        self.client = client
        self._refresher = refresher

    @property
    def info(self) -> ProviderInfo:
        """Oura's facts."""
        return INFO

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Every record of ``kinds`` whose local day could fall in ``window``.

        The routes the kinds need are read concurrently, each once. A route Oura
        refuses for a missing permission (403) drops the kinds that cannot do
        without it and leaves a note; if every kind asked for is dropped, the
        first refusal is raised. See `query_days` for the days asked for.
        """
        wanted = set(kinds)
        if not wanted <= READ_KINDS:
            raise UnsupportedDataKind(
                provider=INFO.name,
                kind=", ".join(sorted(wanted - READ_KINDS)),
                supported=sorted(READ_KINDS),
            )
        start_date, end_date = query_days(window)
        routes = await self._fetch(
            {r for k in wanted for r in (*_PRIMARY[k], *_SECONDARY[k])}, start_date, end_date
        )
        return self._assemble(wanted, routes)

    async def _fetch(self, names: set[str], start_date: date, end_date: date) -> _Routes:
        client = self.client
        sources: dict[str, Callable[..., AsyncIterator[Any]]] = {
            "sleep": client.sleeps,
            "daily_sleep": client.daily_sleeps,
            "daily_readiness": client.daily_readiness,
            "daily_activity": client.daily_activity,
            "daily_spo2": client.daily_spo2,
            "daily_stress": client.daily_stress,
            "vO2_max": client.vo2_max,
            "workout": client.workouts,
        }
        routes = _Routes()

        async def drain(name: str) -> None:
            try:
                items = sources[name](start_date=start_date, end_date=end_date)
                routes.data[name] = [item async for item in items]
            except ScopeNotGranted as refused:
                routes.refused[name] = refused

        try:
            async with anyio.create_task_group() as group:
                for name in sorted(names):
                    group.start_soon(drain, name)
        except ExceptionGroup as failures:
            raise first_failure(failures) from None
        return routes

    def _assemble(self, wanted: set[DataKind], routes: _Routes) -> RecordSet:
        notes: list[str] = []
        kept: set[DataKind] = set()
        first_refusal: ScopeNotGranted | None = None
        for kind in sorted(wanted):
            needed = _PRIMARY[kind] + _SECONDARY[kind]
            refused = [routes.refused[r] for r in needed if r in routes.refused]
            if refused and first_refusal is None:
                first_refusal = refused[0]
            for error in refused:
                if str(error) not in notes:
                    notes.append(str(error))
            dropped = any(r in routes.refused for r in _PRIMARY[kind]) or all(
                r in routes.refused for r in needed
            )
            if not dropped:
                kept.add(kind)
        if not kept and first_refusal is not None:
            raise first_refusal
        sleeps = routes.get("sleep")
        return RecordSet(
            sleeps=_MAP.call(
                lambda: mapping.sleeps_to_core(sleeps, routes.get("daily_sleep")),
                "sleep",
            )
            if DataKind.SLEEP in kept
            else (),
            readiness=_MAP.each(
                routes.get("daily_readiness"), mapping.readiness_to_core, "readiness"
            )
            if DataKind.READINESS in kept
            else (),
            activities=_MAP.each(routes.get("daily_activity"), mapping.activity_to_core, "activity")
            if DataKind.ACTIVITY in kept
            else (),
            workouts=_MAP.each(routes.get("workout"), mapping.workout_to_core, "workout")
            if DataKind.WORKOUT in kept
            else (),
            vitals=_MAP.call(
                lambda: mapping.vitals_by_day(
                    spo2=routes.get("daily_spo2"),
                    stress=routes.get("daily_stress"),
                    vo2_max=routes.get("vO2_max"),
                    readiness=routes.get("daily_readiness"),
                    sleeps=sleeps,
                ),
                "vitals",
            )
            if DataKind.VITALS in kept
            else (),
            notes=tuple(notes),
        )

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record by its Oura document id; a day's vitals by ``vitals-YYYY-MM-DD``.

        A sleep period Oura holds as a rejected rest or a deleted period is not found.
        """
        if kind not in READ_KINDS:
            raise UnsupportedDataKind(
                provider=INFO.name, kind=kind.value, supported=sorted(READ_KINDS)
            )
        what = f"{kind.value} with id {source_id!r}"
        if kind is DataKind.VITALS:
            return await self._vitals_record(source_id, what)
        if not _DOCUMENT_ID.match(source_id) or source_id in (".", ".."):
            raise NotFound(provider=INFO.name, endpoint=None, what=what)
        if kind is DataKind.READINESS:
            readiness = await self.client.get_daily_readiness(source_id)
            return _MAP.call(lambda: mapping.readiness_to_core(readiness), "readiness")
        if kind is DataKind.ACTIVITY:
            activity = await self.client.get_daily_activity(source_id)
            return _MAP.call(lambda: mapping.activity_to_core(activity), "activity")
        if kind is DataKind.WORKOUT:
            workout = await self.client.get_workout(source_id)
            return _MAP.call(lambda: mapping.workout_to_core(workout), "workout")
        period = await self.client.get_sleep(source_id)
        if not mapping.is_sleep(period):
            raise NotFound(provider=INFO.name, endpoint=None, what=what)
        # The sleep score belongs to the day's night: read the day to know which that is.
        day_set = await self.read({DataKind.SLEEP}, _day_window(period.day))
        for sleep in day_set.sleeps:
            if sleep.source_id == period.id:
                return sleep
        return _MAP.call(lambda: mapping.sleep_to_core(period), "sleep")

    async def _vitals_record(self, source_id: str, what: str) -> Record:
        day = mapping.vitals_day(source_id)
        if day is None or mapping.vitals_id(day) != source_id:
            raise NotFound(provider=INFO.name, endpoint=None, what=what)
        records = await self.read({DataKind.VITALS}, _day_window(day))
        for vitals in records.vitals:
            if vitals.day == day:
                return vitals
        raise NotFound(provider=INFO.name, endpoint=None, what=what)

    # ------------------------------------------------------------ sync (`SyncSource`)
    def streams(self) -> tuple[Stream, ...]:
        """Activity, workouts, then the joined daily stream (`wellpipe.providers.oura.sync`)."""
        from wellpipe.providers.oura import sync

        return sync.STREAMS

    async def page(
        self, stream: str, window: TimeWindow, cursor: str | None, *, lookup: RecordLookup
    ) -> Page:
        """One page of a stream, oldest first (Oura's order)."""
        from wellpipe.providers.oura import sync

        return await sync.sync_page(self.client, stream, window, cursor, lookup=lookup)

    async def profile(self) -> Profile:
        """The member's profile (email, age, biological sex)."""
        info = await self.client.get_personal_info()
        return _MAP.call(lambda: mapping.profile_to_core(info), "profile")

    async def body_measurement(self) -> BodyMeasurement:
        """The member's height and weight."""
        info = await self.client.get_personal_info()
        return _MAP.call(lambda: mapping.body_measurement_to_core(info), "body measurement")

    async def revoke(self) -> None:
        """Revoke this app's access at Oura. A grant that is already dead counts as revoked."""
        if self._refresher is None:
            raise RuntimeError("this OuraProvider was made without a token refresher")
        try:
            token = await self._refresher.access_token()
        except ReauthorizationRequired:
            return
        await self.client.revoke_token(token)


def _day_window(day: date) -> TimeWindow:
    """A UTC window whose `query_days` covers ``day`` (records are then picked by day)."""
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    return TimeWindow.between(midnight, midnight + _ONE_DAY)


@asynccontextmanager
async def open_oura(
    *,
    credentials: ClientCredentials,
    tokens: TokenProvider,
    settings: OuraSettings | None = None,
    clock: Clock | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: RequestBudget | None = None,
    retry: RetryPolicy = RetryPolicy(),
    reconnect_action: str | None = None,
    credentials_hint: str | None = None,
) -> AsyncIterator[OuraProvider]:
    """A ready `OuraProvider` for one member, owning its HTTP client.

    Args:
        credentials: The Oura API application.
        tokens: The member's tokens; refreshed tokens are written back here.
        settings: Where Oura lives (defaults read ``WELLPIPE_OURA_*``).
        clock: Time source.
        transport: An `httpx2` async transport to use instead of the network
            (e.g. the in-process sandbox).
        throttle: The app's request budget; pass one shared instance when a
            process serves several members of one app.
        retry: Retry policy for data requests.
        reconnect_action: What to tell a user whose grant is dead.
        credentials_hint: What to tell a user whose client id/secret Oura rejects.
    """
    settings = settings or OuraSettings()

    async with open_session(
        INFO,
        settings,
        oura_oauth_client,
        credentials=credentials,
        credentials_hint=credentials_hint,
        tokens=tokens,
        clock=clock,
        transport=transport,
        throttle=throttle,
        reconnect_action=reconnect_action,
    ) as session:
        client = OuraClient(
            session.http,
            auth=session.auth,
            clock=session.clock,
            throttle=session.throttle,
            retry=retry,
            reconnect_action=reconnect_action,
        )
        yield OuraProvider(client, refresher=session.refresher)
