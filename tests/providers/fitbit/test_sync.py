"""Google Health's backfill: sessions 25 a page, daily types 10,000, activity by chunks."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from tests.fakes import FakeClock
from wellpipe.core.models import DataKind, TimeWindow
from wellpipe.core.reading import READ_KINDS
from wellpipe.core.sync import BACKFILL_START, backfill
from wellpipe.history.local import LocalHistory
from wellpipe.providers.fitbit import FitbitProvider
from wellpipe.providers.fitbit.mapping import ACTIVITY_ROLLUP_TYPES, VITALS_DAILY_TYPES
from wellpipe.providers.fitbit.sync import ACTIVITY_CHUNK_DAYS
from wellpipe.sandbox.fitbit import FitbitSandbox

TYPES = "/v4/users/me/dataTypes"


async def test_a_years_backfill_reads_at_googles_page_sizes(
    fitbit: FitbitProvider, google: FitbitSandbox, clock: FakeClock, tmp_path: Path
) -> None:
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        report = await backfill(fitbit, store, clock=clock)
        counts = (await store.coverage("fitbit")).counts
        days = {r.day async for r in store.scan("fitbit", {DataKind.ACTIVITY})}
    asked = Counter(r.path for r in google.requests)
    assert asked[f"{TYPES}/sleep/dataPoints:reconcile"] == math.ceil(counts[DataKind.SLEEP] / 25)
    assert asked[f"{TYPES}/exercise/dataPoints:reconcile"] == math.ceil(
        counts[DataKind.WORKOUT] / 25
    )
    for data_type in (*VITALS_DAILY_TYPES, "weight"):  # a year of a daily type: one page
        assert asked[f"{TYPES}/{data_type}/dataPoints:reconcile"] == 1, data_type
    # Activity walks back 84 days a chunk, one empty chunk past the first day.
    chunks = math.ceil(((max(days) - min(days)).days + 1) / ACTIVITY_CHUNK_DAYS) + 1
    for data_type in ACTIVITY_ROLLUP_TYPES:
        per_chunk = ACTIVITY_CHUNK_DAYS // (14 if data_type == "total-calories" else 84)
        assert asked[f"{TYPES}/{data_type}/dataPoints:dailyRollUp"] <= chunks * per_chunk
    assert report.requests == sum(asked.values())


async def test_the_backfill_keeps_what_a_full_read_answers(
    fitbit: FitbitProvider, clock: FakeClock, tmp_path: Path
) -> None:
    kinds = READ_KINDS & fitbit.info.kinds
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        await backfill(fitbit, store, clock=clock)
        kept = {(r.kind, r.source_id): r async for r in store.scan("fitbit")}  # type: ignore[attr-defined]
    every = await fitbit.read(kinds, TimeWindow(start=BACKFILL_START, end=clock.now()))
    assert kept == {(r.kind, r.source_id): r for r in every.all()}  # type: ignore[attr-defined]
