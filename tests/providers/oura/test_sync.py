"""Oura's backfill: oldest first (Oura's order), at the fewest requests its pages allow."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from tests.fakes import FakeClock
from wellpipe.core.models import DataKind, TimeWindow
from wellpipe.core.reading import READ_KINDS
from wellpipe.core.sync import BACKFILL_START, backfill
from wellpipe.history.local import LocalHistory
from wellpipe.providers.oura import OuraProvider
from wellpipe.providers.oura.sync import CHUNK_DAYS, PAGE_SIZE
from wellpipe.sandbox.oura import OuraSandbox

API = "/v2/usercollection"


async def test_a_years_backfill_reads_each_route_at_the_floor_of_its_pages(
    oura: OuraProvider, oura_sandbox: OuraSandbox, clock: FakeClock, tmp_path: Path
) -> None:
    assert oura_sandbox.page_size == PAGE_SIZE
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        report = await backfill(oura, store, clock=clock)
        counts = (await store.coverage("oura")).counts
        days = {r.day async for r in store.scan("oura", {DataKind.READINESS})}
    asked = Counter(r.path for r in oura_sandbox.requests)
    # One document a record: one query over the whole window.
    assert asked[f"{API}/daily_activity"] == math.ceil(counts[DataKind.ACTIVITY] / PAGE_SIZE)
    assert asked[f"{API}/workout"] == math.ceil(counts[DataKind.WORKOUT] / PAGE_SIZE)
    # Joined per day: a chunk of days asks each route once (a document a day fits a page).
    chunks = math.ceil((max(days) - min(days)).days / CHUNK_DAYS)
    for route in ("daily_sleep", "daily_readiness", "daily_spo2", "daily_stress", "vO2_max"):
        assert asked[f"{API}/{route}"] <= chunks + 1, route
    assert report.requests == sum(asked.values())


async def test_the_backfill_keeps_what_a_full_read_answers(
    oura: OuraProvider, clock: FakeClock, tmp_path: Path
) -> None:
    kinds = READ_KINDS & oura.info.kinds
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        await backfill(oura, store, clock=clock)
        kept = {(r.kind, r.source_id): r async for r in store.scan("oura")}  # type: ignore[attr-defined]
    every = await oura.read(kinds, TimeWindow(start=BACKFILL_START, end=clock.now()))
    assert kept == {(r.kind, r.source_id): r for r in every.all()}  # type: ignore[attr-defined]
