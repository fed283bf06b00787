"""The sync engine: backfill resumes after any interruption, never losing or doubling a record.

Against the real sandboxes (in process) and a real `LocalHistory`; time is a `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import CREDENTIALS, NOW
from tests.fakes import FakeClock
from wellpipe.core import MemoryTokenProvider
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import DataKind, Record, TimeWindow
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.reading import READ_KINDS
from wellpipe.core.sync import (
    BACKFILL_START,
    Progress,
    SyncableProvider,
    backfill,
    refresh,
    refresh_days,
)
from wellpipe.history.local import LocalHistory
from wellpipe.providers.oura import OuraProvider, OuraSettings, open_oura
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import WhoopSandbox
from wellpipe.sandbox.whoop import generate_history as whoop_history

FAST = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
"""No explain phase: it traces every line of every request."""

COLLECTIONS = (
    "/developer/v2/activity/sleep",
    "/developer/v2/recovery",
    "/developer/v2/cycle",
    "/developer/v2/activity/workout",
)

DAYS = 180
"""The shortest history the sandboxes keep: each example stays fast."""

WHOOP_HISTORY = whoop_history(now=NOW, days=DAYS, members=1)
OURA_HISTORY = oura_history(now=NOW, days=DAYS, members=1)


class Interrupted(Exception):
    """The process died (as far as the store can tell)."""


class Interrupting:
    """A provider whose page ``at`` (counted from 1) fails, or cancels the backfill."""

    def __init__(self, inner: SyncableProvider, at: int, *, cancel: anyio.CancelScope | None):
        self.inner = inner
        self.at = at
        self.cancel = cancel
        self.pages = 0

    @property
    def info(self) -> ProviderInfo:
        return self.inner.info

    async def read(self, kinds: Any, window: TimeWindow) -> Any:
        return await self.inner.read(kinds, window)

    async def record(self, kind: DataKind, source_id: str) -> Record:
        return await self.inner.record(kind, source_id)

    async def profile(self) -> Any:
        return await self.inner.profile()

    async def body_measurement(self) -> Any:
        return await self.inner.body_measurement()

    def streams(self) -> tuple[Stream, ...]:
        return self.inner.streams()

    async def page(
        self, stream: str, window: TimeWindow, cursor: str | None, *, lookup: RecordLookup
    ) -> Page:
        self.pages += 1
        if self.pages == self.at:
            if self.cancel is None:
                raise Interrupted
            self.cancel.cancel()
            await anyio.lowlevel.checkpoint()  # the page is read, but cancelled before it is stored
        return await self.inner.page(stream, window, cursor, lookup=lookup)


@asynccontextmanager
async def oura_on(sandbox: OuraSandbox, clock: FakeClock) -> AsyncIterator[OuraProvider]:
    tokens = MemoryTokenProvider(
        sandbox.issue_token_set(client_id=CREDENTIALS.client_id), clock=clock
    )
    async with open_oura(
        credentials=CREDENTIALS,
        tokens=tokens,
        settings=OuraSettings.for_origin("http://oura.test"),
        clock=clock,
        transport=sandbox.transport(),
    ) as provider:
        yield provider


@asynccontextmanager
async def whoop_on(sandbox: WhoopSandbox, clock: FakeClock) -> AsyncIterator[SyncableProvider]:
    from tests.conftest import connect

    async with connect(sandbox, clock) as provider:
        yield provider


def by_key(records: list[Record]) -> dict[tuple[str, str], Record]:
    keyed = {(str(r.kind), r.source_id): r for r in records}  # type: ignore[attr-defined]
    assert len(keyed) == len(records), "a record is kept twice"
    return keyed


async def kept(store: LocalHistory, provider: str) -> dict[tuple[str, str], Record]:
    return by_key([record async for record in store.scan(provider)])


async def reference(provider: SyncableProvider, clock: FakeClock) -> dict[tuple[str, str], Record]:
    """Everything a full read of the backfill's window answers."""
    kinds = READ_KINDS & provider.info.kinds
    records = await provider.read(kinds, TimeWindow(start=BACKFILL_START, end=clock.now()))
    return by_key(list(records.all()))


async def interrupted_then_resumed(
    provider: SyncableProvider, store: LocalHistory, clock: FakeClock, at: int, cancel: bool
) -> int:
    """Backfill, stopped at page ``at``; then again to the end. Pages stored in all."""
    pages: list[Progress] = []
    with anyio.CancelScope() as scope:
        stopping = Interrupting(provider, at, cancel=scope if cancel else None)
        with suppress(Interrupted):
            await backfill(stopping, store, clock=clock, progress=pages.append)
    stopped_after = len(pages)
    clock.advance(60)
    report = await backfill(provider, store, clock=clock, progress=pages.append)
    assert stopped_after == min(at - 1, stopped_after)  # nothing stored from page ``at`` on
    return stopped_after + report.pages


@settings(max_examples=6, phases=FAST)
@given(
    page_size=st.integers(min_value=15, max_value=60),
    at=st.integers(min_value=1, max_value=40),
    cancel=st.booleans(),
)
def test_an_interrupted_oura_backfill_resumes_without_losing_or_doubling_a_record(
    tmp_path_factory: pytest.TempPathFactory, page_size: int, at: int, cancel: bool
) -> None:
    async def scenario() -> None:
        clock = FakeClock(NOW + timedelta(minutes=1))
        sandbox = OuraSandbox(clock=clock, history=OURA_HISTORY, page_size=page_size)
        path = tmp_path_factory.mktemp("history") / "history.sqlite3"
        async with LocalHistory(path) as store, oura_on(sandbox, clock) as oura:
            await interrupted_then_resumed(oura, store, clock, at, cancel)
            assert await kept(store, "oura") == await reference(oura, clock)
            coverage = await store.coverage("oura")
            assert coverage.backfill == {}
            assert set(coverage.spans) == READ_KINDS & oura.info.kinds

    anyio.run(scenario)


@settings(max_examples=6, phases=FAST)
@given(at=st.integers(min_value=1, max_value=32), cancel=st.booleans())
def test_an_interrupted_whoop_backfill_resumes_without_losing_or_doubling_a_record(
    tmp_path_factory: pytest.TempPathFactory, at: int, cancel: bool
) -> None:
    async def scenario() -> None:
        clock = FakeClock(NOW + timedelta(minutes=1))
        sandbox = WhoopSandbox(clock=clock, history=WHOOP_HISTORY)
        path = tmp_path_factory.mktemp("history") / "history.sqlite3"
        async with LocalHistory(path) as store, whoop_on(sandbox, clock) as whoop:
            pages = await interrupted_then_resumed(whoop, store, clock, at, cancel)
            assert await kept(store, "whoop") == await reference(whoop, clock)
            # Pages stored once each: an interrupted page is read again, never stored twice.
            counts = (await store.coverage("whoop")).counts
            assert pages == sum(-(-n // 25) for n in counts.values())

    anyio.run(scenario)


async def test_a_finished_backfill_costs_nothing_and_a_refresh_reads_only_the_last_days(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW + timedelta(minutes=1))
    sandbox = WhoopSandbox(clock=clock, history=WHOOP_HISTORY)
    async with LocalHistory(tmp_path / "h.sqlite3") as store, whoop_on(sandbox, clock) as whoop:
        first = await backfill(whoop, store, clock=clock)
        assert first.streams == ("sleep", "recovery", "cycle", "workout")
        before = len(sandbox.requests)
        again = await backfill(whoop, store, clock=clock)
        assert (again.pages, again.requests, len(sandbox.requests)) == (0, 0, before)

        clock.advance(6 * 3600)
        runs = await refresh_days(whoop, store, now=clock.now())
        today = clock.now().date()
        assert runs[-1].first == today - timedelta(days=3)
        assert runs[-1].last == today + timedelta(days=1)
        report = await refresh(whoop, store, clock=clock)
        # One read of the last days: one page per collection (and a sleep the window cut
        # off from its recovery, fetched by id).
        paths = [r.path for r in list(sandbox.requests)[before:]]
        reads = [p for p in paths if p.startswith("/developer/") and "/activity/sleep/" not in p]
        assert sorted(reads) == sorted(COLLECTIONS)
        assert report.days == runs
        assert await kept(store, "whoop") == await reference(whoop, clock)


async def test_a_refresh_deletes_what_the_provider_deleted(tmp_path: Path) -> None:
    clock = FakeClock(NOW + timedelta(minutes=1))
    sandbox = WhoopSandbox(clock=clock, history=WHOOP_HISTORY)
    async with LocalHistory(tmp_path / "h.sqlite3") as store, whoop_on(sandbox, clock) as whoop:
        await backfill(whoop, store, clock=clock)
        yesterday = (clock.now() - timedelta(days=1)).date()
        workouts = list((await store.read("whoop", {DataKind.WORKOUT}, _days(yesterday))).workouts)
        assert workouts
        ghost = workouts[0].model_copy(update={"source_id": "00000000-0000-4000-8000-000000000000"})
        await store.put([ghost], now=clock.now())
        await refresh(whoop, store, clock=clock)
        assert await store.get("whoop", DataKind.WORKOUT, ghost.source_id) is None


def _days(day: Any) -> Any:
    from wellpipe.core.models import DayRange

    return DayRange(first=day, last=day)


async def test_progress_counts_pages_and_estimates_once_a_stream_ends(tmp_path: Path) -> None:
    clock = FakeClock(NOW + timedelta(minutes=1))
    sandbox = WhoopSandbox(clock=clock, history=WHOOP_HISTORY)
    seen: list[Progress] = []
    async with LocalHistory(tmp_path / "h.sqlite3") as store, whoop_on(sandbox, clock) as whoop:
        report = await backfill(whoop, store, clock=clock, progress=seen.append)
    assert [p.pages for p in seen] == list(range(1, report.pages + 1))
    assert seen[-1].records == report.records
    assert seen[-1].requests == report.requests == len(sandbox.requests)
    assert seen[0].pages_estimate is None  # newest first: where the history starts is unknown
    assert seen[-1].pages_estimate == report.pages
    assert seen[-1].streams_done == seen[-1].streams_total == 4
