"""Answers from the history store: what a question asks the provider, and what it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import NOW, connect
from tests.fakes import FakeClock, FlakyNetwork
from wellpipe.core.history import Span
from wellpipe.core.models import DataKind, DayRange
from wellpipe.core.reading import Reader
from wellpipe.core.stored import (
    Freshness,
    HistoryNotKept,
    StoredProvider,
    insist_live,
    plan_reads,
)
from wellpipe.history.local import LocalHistory
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.faults import Fault

pytestmark = pytest.mark.anyio

TODAY = NOW.date()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalHistory]:
    async with LocalHistory(tmp_path / "history.sqlite3") as opened:
        yield opened


def data_requests(sandbox: WhoopSandbox) -> list[str]:
    return [r.path for r in sandbox.requests if "/developer/" in r.path]


@pytest.fixture
def stored(whoop: WhoopProvider, store: LocalHistory, clock: FakeClock) -> StoredProvider:
    return StoredProvider(whoop, store, clock=clock, sync_action="run `wellpipe sync` first")


def reader(provider: StoredProvider, clock: FakeClock) -> Reader:
    return Reader([provider], clock=clock)


# ------------------------------------------------------------------ planning
def test_days_never_read_are_read_and_held_settled_days_are_not() -> None:
    spans = [Span(date(2026, 10, 1), date(2026, 11, 21), NOW)]
    wanted = DayRange(first=date(2026, 9, 20), last=date(2026, 10, 10))
    runs = plan_reads(wanted, spans, set(), now=NOW, freshness=Freshness(merge_gap_days=0))
    assert runs == [DayRange(first=date(2026, 9, 20), last=date(2026, 9, 30))]


def test_the_newest_days_are_read_again_once_stale_and_only_they() -> None:
    read_at = NOW - timedelta(hours=1)
    spans = [Span(date(2026, 10, 1), date(2026, 11, 23), read_at)]
    wanted = DayRange(first=date(2026, 11, 1), last=date(2026, 11, 23))
    fresh = Freshness(settle_days=3, fresh_for=timedelta(hours=2), merge_gap_days=0)
    assert plan_reads(wanted, spans, set(), now=NOW, freshness=fresh) == []
    stale = Freshness(settle_days=3, fresh_for=timedelta(minutes=15), merge_gap_days=0)
    assert plan_reads(wanted, spans, set(), now=NOW, freshness=stale) == [
        DayRange(first=date(2026, 11, 17), last=date(2026, 11, 23))
    ]


def test_a_pending_day_is_read_again_however_old() -> None:
    spans = [Span(date(2026, 10, 1), date(2026, 11, 23), NOW - timedelta(hours=1))]
    wanted = DayRange(first=date(2026, 11, 1), last=date(2026, 11, 10))
    runs = plan_reads(
        wanted, spans, {date(2026, 11, 4)}, now=NOW, freshness=Freshness(merge_gap_days=0)
    )
    assert runs == [DayRange(first=date(2026, 11, 4), last=date(2026, 11, 4))]


def test_close_runs_are_read_as_one_and_fresh_reads_everything() -> None:
    spans = [Span(date(2026, 11, 5), date(2026, 11, 6), NOW)]
    wanted = DayRange(first=date(2026, 11, 1), last=date(2026, 11, 10))
    runs = plan_reads(wanted, spans, set(), now=NOW, freshness=Freshness(merge_gap_days=14))
    assert runs == [wanted]
    assert plan_reads(wanted, [], set(), now=NOW, freshness=Freshness(), live=True) == [wanted]


# ------------------------------------------------------------------ reading
async def test_a_repeated_question_asks_the_provider_nothing(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    first = await reader(stored, clock).recent("summary", 7)
    asked = len(data_requests(sandbox))
    assert asked > 0
    again = await reader(stored, clock).recent("summary", 7)
    assert len(data_requests(sandbox)) == asked
    assert again.summary() == first.summary()


async def test_the_answer_from_the_store_equals_the_live_one(
    stored: StoredProvider, whoop: WhoopProvider, clock: FakeClock
) -> None:
    for kind in ("sleep", "recovery", "cycle", "workout"):
        kept = await reader(stored, clock).between(kind, date(2026, 10, 1), date(2026, 11, 21))
        live = await Reader([whoop], clock=clock).between(
            kind, date(2026, 10, 1), date(2026, 11, 21)
        )
        key = lambda r: (r.day, r.source_id)  # noqa: E731
        assert sorted(kept.records(), key=key) == sorted(live.records(), key=key), kind


async def test_a_longer_question_reads_only_the_days_not_kept(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    await reader(stored, clock).recent("sleep", 7)
    before = len(data_requests(sandbox))
    await reader(stored, clock).recent("sleep", 30)
    paths = data_requests(sandbox)[before:]
    assert paths, "the 23 older days are read"
    # One collection read (page by page) over the older days only.
    assert set(paths) == {"/developer/v2/activity/sleep"}
    sent = [r for r in sandbox.requests if r.path == "/developer/v2/activity/sleep"][-1]
    end = dict(sent.query)["end"]
    assert end < (TODAY - timedelta(days=3)).isoformat(), "the kept newest days are not re-read"


async def test_stale_newest_days_are_read_again_after_a_while(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    await reader(stored, clock).recent("sleep", 30)
    before = len(data_requests(sandbox))
    clock.advance(stored.freshness.fresh_for.total_seconds() + 1)
    await reader(stored, clock).recent("sleep", 30)
    sent = [r for r in sandbox.requests if r.path == "/developer/v2/activity/sleep"][-1]
    assert len(data_requests(sandbox)) == before + 1
    assert dict(sent.query)["start"] >= (TODAY - timedelta(days=6)).isoformat()


async def test_fresh_reads_every_day_again(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    await reader(stored, clock).recent("sleep", 30)
    before = len(data_requests(sandbox))
    with insist_live():
        await reader(stored, clock).recent("sleep", 30)
    sent = [r for r in sandbox.requests if r.path == "/developer/v2/activity/sleep"][-1]
    assert len(data_requests(sandbox)) - before == before  # the same pages again
    assert dict(sent.query)["start"] <= (TODAY - timedelta(days=30)).isoformat()


async def test_a_record_deleted_at_the_provider_leaves_the_store_on_the_next_read(
    stored: StoredProvider, store: LocalHistory, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    reading = await reader(stored, clock).recent("workout", 7)
    workouts = reading.records()
    assert workouts
    gone = workouts[0]

    def without_it(body: Any) -> Any:
        body["records"] = [r for r in body["records"] if r["id"] != gone.source_id]
        return body

    sandbox.faults.add(Fault(path_prefix="/developer/v2/activity/workout", mutate=without_it))
    clock.advance(stored.freshness.fresh_for.total_seconds() + 1)
    with insist_live():
        await reader(stored, clock).recent("workout", 7)
    assert await store.get("whoop", DataKind.WORKOUT, gone.source_id) is None


async def test_a_provider_failure_answers_from_the_store_with_a_note(
    sandbox: WhoopSandbox, store: LocalHistory, clock: FakeClock
) -> None:
    network = FlakyNetwork(sandbox.transport())
    async with connect(sandbox, clock, transport=network) as whoop:
        stored = StoredProvider(whoop, store, clock=clock)
        first = await reader(stored, clock).recent("sleep", 7)
        clock.advance(stored.freshness.fresh_for.total_seconds() + 1)
        sandbox.faults.add(Fault(path_prefix="/developer/", status=503, times=50))
        again = await reader(stored, clock).recent("sleep", 7)
    assert again.records() == first.records()
    assert any("could not be asked for the newest days" in note for note in again.notes)


async def test_a_year_not_kept_is_refused_with_what_to_do(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    with pytest.raises(HistoryNotKept, match=r"run `wellpipe sync` first"):
        await reader(stored, clock).between("sleep", date(2025, 11, 1), date(2026, 11, 21))
    assert data_requests(sandbox) == []


async def test_a_kept_year_is_answered_without_a_request(
    stored: StoredProvider,
    store: LocalHistory,
    whoop: WhoopProvider,
    sandbox: WhoopSandbox,
    clock: FakeClock,
) -> None:
    year = DayRange(first=date(2025, 11, 1), last=date(2026, 11, 21))
    found = await whoop.read({DataKind.SLEEP}, year.query_window())
    held = DayRange(first=year.first - timedelta(days=3), last=year.last + timedelta(days=3))
    await store.replace("whoop", {DataKind.SLEEP}, held, found.all(), now=clock.now())
    before = len(data_requests(sandbox))
    reading = await reader(stored, clock).between("sleep", year.first, year.last)
    assert len(data_requests(sandbox)) == before
    assert len(reading.records()) > 300


async def test_questions_asked_together_read_the_provider_once(
    stored: StoredProvider, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(reader(stored, clock).recent, "summary", 7)
    # Four collections, one page each for seven days: what one question costs.
    assert len(data_requests(sandbox)) == 4
