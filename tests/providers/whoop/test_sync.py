"""WHOOP's backfill at the floor: ⌈records / 25⌉ requests per collection, nothing more."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from tests.fakes import FakeClock
from wellpipe.core.models import DataKind, TimeWindow
from wellpipe.core.sync import BACKFILL_START, backfill
from wellpipe.history.local import LocalHistory
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.sandbox import WhoopSandbox

PATHS = {
    DataKind.SLEEP: "/developer/v2/activity/sleep",
    DataKind.RECOVERY: "/developer/v2/recovery",
    DataKind.CYCLE: "/developer/v2/cycle",
    DataKind.WORKOUT: "/developer/v2/activity/workout",
}


async def test_a_years_backfill_costs_one_request_per_25_records_per_collection(
    whoop: WhoopProvider, sandbox: WhoopSandbox, clock: FakeClock, tmp_path: Path
) -> None:
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        report = await backfill(whoop, store, clock=clock)
        counts = (await store.coverage("whoop")).counts
    asked = Counter(r.path for r in sandbox.requests)
    for kind, path in PATHS.items():
        assert counts[kind] > 300  # a year and more
        assert asked[path] == math.ceil(counts[kind] / 25), kind
    assert report.requests == sum(asked.values()) == report.pages


async def test_the_backfill_keeps_what_a_full_read_answers_newest_first(
    whoop: WhoopProvider, sandbox: WhoopSandbox, clock: FakeClock, tmp_path: Path
) -> None:
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        await backfill(whoop, store, clock=clock)
        kept = {(r.kind, r.source_id): r async for r in store.scan("whoop")}  # type: ignore[attr-defined]
    every = await whoop.read(set(PATHS), TimeWindow(start=BACKFILL_START, end=clock.now()))
    assert kept == {(r.kind, r.source_id): r for r in every.all()}  # type: ignore[attr-defined]
    first_sleep_page = next(r for r in sandbox.requests if r.path == PATHS[DataKind.SLEEP])
    assert "nextToken" not in dict(first_sleep_page.query)
    # Recoveries and cycles were placed by the kept sleeps: no request by id.
    assert not [r for r in sandbox.requests if r.path.count("/") > 4]


async def test_every_whoop_record_carries_the_providers_updated_at(
    whoop: WhoopProvider, clock: FakeClock, tmp_path: Path
) -> None:
    async with LocalHistory(tmp_path / "history.sqlite3") as store:
        await backfill(whoop, store, clock=clock)
        assert all([r.updated_at is not None async for r in store.scan("whoop")])
