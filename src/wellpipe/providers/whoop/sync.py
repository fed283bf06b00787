"""WHOOP as a `SyncSource`: its four collections, page by page, newest first.

Each stream is one collection read over the whole backfill window in one query,
following ``next_token`` (WHOOP keeps ``start`` and ``end`` the same on every page),
25 records a page (WHOOP's largest ``limit``): ⌈records / 25⌉ requests per collection,
newest first as WHOOP sorts them.

A recovery carries no time of its own and a cycle's day is its main sleep's, so the
sleeps go first and the later streams place their records by what the store already
keeps (`RecordLookup`), with no request:

* a recovery by its sleep (``sleep_id``);
* a cycle by its recovery (keyed by the cycle's id), whose sleep is the cycle's main
  sleep.

Only a record whose relative is not kept (a sleep that arrived after the sleeps were
read, a cycle without a recovery) costs a request: ``getSleepById`` (then the cycle, if
the sleep is gone) or ``getSleepForCycle``; those requests are counted in `Page.requests`.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel

from wellpipe.core.errors import NotFound
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import Cycle, DataKind, Record, Recovery, Sleep, TimeWindow
from wellpipe.providers.reading import Mapper
from wellpipe.providers.whoop import mapping
from wellpipe.providers.whoop import schemas as wire
from wellpipe.providers.whoop.client import MAX_PAGE_SIZE, WhoopClient
from wellpipe.providers.whoop.info import INFO

__all__ = ["STREAMS", "sync_page"]

STREAMS: Final = (
    Stream("sleep", frozenset({DataKind.SLEEP}), MAX_PAGE_SIZE),
    Stream("recovery", frozenset({DataKind.RECOVERY}), MAX_PAGE_SIZE),
    Stream("cycle", frozenset({DataKind.CYCLE}), MAX_PAGE_SIZE),
    Stream("workout", frozenset({DataKind.WORKOUT}), MAX_PAGE_SIZE),
)
"""Sleeps first: recoveries are placed by their sleep, cycles by their recovery's sleep."""

_NAMES: Final = frozenset(stream.name for stream in STREAMS)
_MAP: Final = Mapper(INFO.name)


async def sync_page(
    client: WhoopClient,
    stream: str,
    window: TimeWindow,
    cursor: str | None,
    *,
    lookup: RecordLookup,
) -> Page:
    """One page of ``stream`` (a collection name) within ``window``, from ``cursor``.

    Raises:
        ValueError: ``stream`` is not one of `STREAMS`.
        ProviderError: the page could not be read.
    """
    if stream not in _NAMES:
        raise ValueError(f"WHOOP has no stream {stream!r}")
    found, token = await client.page(stream, start=window.start, end=window.end, next_token=cursor)
    placer = _Placer(client, lookup)
    records = [await placer.core(stream, item) for item in found]
    return Page(records=tuple(records), cursor=token, requests=1 + placer.requests)


class _Placer:
    """Maps one page's records, placing them by the records already kept."""

    def __init__(self, client: WhoopClient, lookup: RecordLookup) -> None:
        self.client = client
        self.lookup = lookup
        self.requests = 0

    async def core(self, stream: str, item: BaseModel) -> Record:
        if isinstance(item, wire.Sleep):
            return _MAP.one(item, mapping.sleep_to_core, "sleep")
        if isinstance(item, wire.WorkoutV2):
            return _MAP.one(item, mapping.workout_to_core, "workout")
        if isinstance(item, wire.Recovery):
            return await self.recovery(item)
        if isinstance(item, wire.Cycle):
            return await self.cycle(item)
        raise TypeError(f"unexpected {type(item).__name__} in WHOOP's {stream} collection")

    async def _kept_sleep(self, sleep_id: str) -> Sleep | None:
        kept = await self.lookup.get(INFO.name, DataKind.SLEEP, sleep_id)
        return kept if isinstance(kept, Sleep) else None

    async def recovery(self, recovery: wire.Recovery) -> Recovery:
        kept = await self._kept_sleep(str(recovery.sleep_id))
        if kept is not None:
            return _MAP.call(
                lambda: mapping.recovery_to_core(recovery, kept_sleep=kept), "recovery"
            )
        sleep: wire.Sleep | None = None
        cycle: wire.Cycle | None = None
        self.requests += 1
        try:
            sleep = await self.client.get_sleep(recovery.sleep_id)
        except NotFound:
            self.requests += 1
            cycle = await self.client.get_cycle(recovery.cycle_id)
        return _MAP.call(
            lambda: mapping.recovery_to_core(recovery, sleep=sleep, cycle=cycle), "recovery"
        )

    async def cycle(self, cycle: wire.Cycle) -> Cycle:
        recovery = await self.lookup.get(INFO.name, DataKind.RECOVERY, str(cycle.id))
        if isinstance(recovery, Recovery) and recovery.sleep_source_id is not None:
            sleep = await self._kept_sleep(recovery.sleep_source_id)
            if sleep is not None and not sleep.nap:
                day = sleep.day
                return _MAP.call(lambda: mapping.cycle_to_core(cycle, day=day), "cycle")
        self.requests += 1
        main_sleep: wire.Sleep | None
        try:
            main_sleep = await self.client.get_sleep_for_cycle(cycle.id)
        except NotFound:
            main_sleep = None
        return _MAP.call(lambda: mapping.cycle_to_core(cycle, main_sleep=main_sleep), "cycle")
