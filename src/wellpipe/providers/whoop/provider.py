"""`WhoopProvider`: WHOOP behind the provider-neutral `HealthProvider` port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from uuid import UUID

import anyio
import httpx2

from wellpipe.core.errors import NotFound, UnsupportedDataKind
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import (
    BodyMeasurement,
    DataKind,
    Profile,
    Record,
    RecordSet,
    Recovery,
    TimeWindow,
)
from wellpipe.core.ports import Clock, TokenProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.net import (
    RequestBudget,
    RetryPolicy,
)
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.reading import Mapper, drain, first_failure
from wellpipe.providers.session import open_session
from wellpipe.providers.whoop import mapping, sync
from wellpipe.providers.whoop import schemas as wire
from wellpipe.providers.whoop.client import WhoopClient
from wellpipe.providers.whoop.info import INFO
from wellpipe.providers.whoop.oauth import whoop_oauth_client
from wellpipe.providers.whoop.settings import WhoopSettings

__all__ = ["WhoopProvider", "open_whoop"]

_TIMED = frozenset({DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE})
_MAP = Mapper(INFO.name)


_COLLECTED = (DataKind.CYCLE, DataKind.RECOVERY, DataKind.WORKOUT)
"""Kinds read from a collection of their own (sleeps are read whenever one is asked)."""


class WhoopProvider:
    """One WHOOP member's data, as core records."""

    def __init__(self, client: WhoopClient) -> None:
        self.client = client

    @property
    def info(self) -> ProviderInfo:
        """WHOOP's facts."""
        return INFO

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Every record of ``kinds`` overlapping ``window``, each kind newest first.

        Collections are read concurrently. Sleeps are read whenever recoveries or
        cycles are asked for, because they pin those to the right day.
        """
        wanted = set(kinds)
        if not wanted <= _TIMED:
            raise UnsupportedDataKind(
                provider=INFO.name,
                kind=", ".join(sorted(wanted - _TIMED)),
                supported=sorted(_TIMED),
            )
        needs_sleeps = bool(wanted & {DataKind.SLEEP, DataKind.RECOVERY, DataKind.CYCLE})
        start, end = window.start, window.end
        sleeps: list[wire.Sleep] = []
        cycles: list[wire.Cycle] = []
        recoveries: list[wire.Recovery] = []
        workouts: list[wire.WorkoutV2] = []

        reads = [needs_sleeps, *(kind in wanted for kind in _COLLECTED)]
        await self.client.reserve(sum(reads))  # the first pages together, or nothing sent
        try:
            async with anyio.create_task_group() as group:
                if needs_sleeps:
                    group.start_soon(drain, self.client.sleeps(start=start, end=end), sleeps)
                if DataKind.CYCLE in wanted:
                    group.start_soon(drain, self.client.cycles(start=start, end=end), cycles)
                if DataKind.RECOVERY in wanted:
                    group.start_soon(
                        drain, self.client.recoveries(start=start, end=end), recoveries
                    )
                if DataKind.WORKOUT in wanted:
                    group.start_soon(drain, self.client.workouts(start=start, end=end), workouts)
        except ExceptionGroup as failures:
            raise first_failure(failures) from None

        sleeps_by_id = {sleep.id: sleep for sleep in sleeps}
        main_sleeps = mapping.main_sleep_by_cycle(sleeps)
        return RecordSet(
            sleeps=_MAP.each(sleeps, mapping.sleep_to_core, "sleep")
            if DataKind.SLEEP in wanted
            else (),
            cycles=_MAP.each(
                cycles,
                lambda c: mapping.cycle_to_core(c, main_sleep=main_sleeps.get(c.id)),
                "cycle",
            ),
            recoveries=tuple([await self._recovery(r, sleeps_by_id) for r in recoveries]),
            workouts=_MAP.each(workouts, mapping.workout_to_core, "workout"),
        )

    async def _recovery(self, recovery: wire.Recovery, sleeps: dict[UUID, wire.Sleep]) -> Recovery:
        sleep = sleeps.get(recovery.sleep_id)
        cycle = None
        if sleep is None:  # the window cut between a recovery and its sleep: fetch it
            try:
                sleep = await self.client.get_sleep(recovery.sleep_id)
            except NotFound:
                cycle = await self.client.get_cycle(recovery.cycle_id)
        return _MAP.one(
            recovery, lambda r: mapping.recovery_to_core(r, sleep=sleep, cycle=cycle), "recovery"
        )

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record by its id: a sleep or workout UUID, or a cycle id (recoveries too).

        A recovery's id is its cycle's id, as WHOOP keys recoveries by cycle.
        """
        what = f"{kind.value} with id {source_id!r}"
        try:
            if kind in (DataKind.SLEEP, DataKind.WORKOUT):
                uuid = UUID(source_id)
            elif kind in (DataKind.CYCLE, DataKind.RECOVERY):
                cycle_id = int(source_id)
            else:
                raise UnsupportedDataKind(
                    provider=INFO.name, kind=kind.value, supported=sorted(_TIMED)
                )
        except ValueError:
            raise NotFound(provider=INFO.name, endpoint=None, what=what) from None
        if kind is DataKind.SLEEP:
            return _MAP.one(await self.client.get_sleep(uuid), mapping.sleep_to_core, "sleep")
        if kind is DataKind.WORKOUT:
            workout = await self.client.get_workout(uuid)
            return _MAP.one(workout, mapping.workout_to_core, "workout")
        if kind is DataKind.CYCLE:
            cycle = await self.client.get_cycle(cycle_id)
            sleep = await self._main_sleep_of(cycle_id)
            return _MAP.one(cycle, lambda c: mapping.cycle_to_core(c, main_sleep=sleep), "cycle")
        recovery = await self.client.get_recovery_for_cycle(cycle_id)
        return await self._recovery(recovery, {})

    async def _main_sleep_of(self, cycle_id: int) -> wire.Sleep | None:
        try:
            return await self.client.get_sleep_for_cycle(cycle_id)
        except NotFound:
            return None

    # ------------------------------------------------------------ sync (`SyncSource`)
    def streams(self) -> tuple[Stream, ...]:
        """The four collections, sleeps first (see `wellpipe.providers.whoop.sync`)."""
        return sync.STREAMS

    async def page(
        self, stream: str, window: TimeWindow, cursor: str | None, *, lookup: RecordLookup
    ) -> Page:
        """One page of a collection, its records placed by those ``lookup`` keeps."""
        return await sync.sync_page(self.client, stream, window, cursor, lookup=lookup)

    async def profile(self) -> Profile:
        """The member's profile."""
        return mapping.profile_to_core(await self.client.get_profile())

    async def body_measurement(self) -> BodyMeasurement:
        """The member's body measurement."""
        return mapping.body_measurement_to_core(await self.client.get_body_measurement())

    async def revoke(self) -> None:
        """Revoke this app's access at WHOOP (the tokens die there)."""
        await self.client.revoke_access()


@asynccontextmanager
async def open_whoop(
    *,
    credentials: ClientCredentials,
    tokens: TokenProvider,
    settings: WhoopSettings | None = None,
    clock: Clock | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: RequestBudget | None = None,
    retry: RetryPolicy = RetryPolicy(),
    reconnect_action: str | None = None,
    credentials_hint: str | None = None,
) -> AsyncIterator[WhoopProvider]:
    """A ready `WhoopProvider` for one member, owning its HTTP client.

    Args:
        credentials: The WHOOP developer app.
        tokens: The member's tokens; refreshed tokens are written back here.
        settings: Where WHOOP lives (defaults read ``WELLPIPE_WHOOP_*``).
        clock: Time source.
        transport: An `httpx2` async transport to use instead of the network
            (e.g. the in-process sandbox).
        throttle: The app's request budget; pass one shared instance when a
            process serves several members of one app.
        retry: Retry policy for data requests.
        reconnect_action: What to tell a user whose grant is dead.
        credentials_hint: What to tell a user whose client id/secret WHOOP rejects.
    """
    settings = settings or WhoopSettings()

    async with open_session(
        INFO,
        settings,
        whoop_oauth_client,
        credentials=credentials,
        credentials_hint=credentials_hint,
        tokens=tokens,
        clock=clock,
        transport=transport,
        throttle=throttle,
        reconnect_action=reconnect_action,
    ) as session:
        client = WhoopClient(
            session.http,
            auth=session.auth,
            clock=session.clock,
            throttle=session.throttle,
            retry=retry,
            reconnect_action=reconnect_action,
        )
        yield WhoopProvider(client)
