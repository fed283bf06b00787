"""One contract, every home: each `HistoryStore` behaves the same.

Runs over the self-hosted store (stdlib SQLite), the cloud's store on SQLite and the
cloud's store on PostgreSQL (skipped locally without a server, required under CI=true).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.history.records import (
    activity,
    cycle,
    readiness,
    recovery,
    sleep,
    vitals,
    whoop_year,
    workout,
)
from wellpipe.core.history import HistoryStore, Span, SyncCursor
from wellpipe.core.models import DataKind, DayRange, Record, ScoreState, TimeWindow
from wellpipe.history.local import LocalHistory

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
TODAY = date(2026, 11, 21)
WHOOP_KINDS = (DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE)


def days(first: date, last: date) -> DayRange:
    return DayRange(first=first, last=last)


def ago(count: int) -> date:
    return TODAY - timedelta(days=count)


@dataclass
class Home:
    """A store under test, and how to make its cursor write fail."""

    store: HistoryStore
    break_cursor_write: Callable[[pytest.MonkeyPatch], None]


def _failing(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("the process died between the page's records and its cursor")


@pytest.fixture(
    params=["local", "cloud-sqlite", pytest.param("cloud-postgres", marks=pytest.mark.postgres)]
)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``local``, or the URL of a fresh cloud database at the newest schema."""
    if request.param == "local":
        yield "local"
        return
    from tests.history.cloud_support import database_url

    backend = "sqlite" if request.param == "cloud-sqlite" else "postgres"
    yield from database_url(request, tmp_path, backend)


@pytest.fixture
async def home(where: str, tmp_path: Path) -> AsyncIterator[Home]:
    if where == "local":
        store = await LocalHistory.open(tmp_path / "history.sqlite3")
        try:
            yield Home(
                store=store,
                break_cursor_write=lambda mp: mp.setattr(store, "_save_cursor", _failing),
            )
        finally:
            await store.close()
        return
    from tests.history.cloud_support import cloud_home

    async with cloud_home(where) as (cloud_store, breaker):
        yield Home(store=cloud_store, break_cursor_write=breaker)


def cursor(
    stream: str = "sleep", *, token: str | None = "page-2", done: bool = False
) -> SyncCursor:
    return SyncCursor(
        stream=stream,
        window=TimeWindow(start=NOW - timedelta(days=365), end=NOW),
        cursor=token,
        pages=1,
        records=25,
        requests=1,
        started_at=NOW,
        done=done,
    )


async def everything(store: HistoryStore, **filters: Any) -> list[Record]:
    return [record async for record in store.scan(**filters)]


# ------------------------------------------------------------ put / get
async def test_put_keeps_each_record_once_and_counts_what_changed(home: Home) -> None:
    store = home.store
    records: list[Record] = [sleep(ago(1)), recovery(ago(1)), workout(ago(1)), cycle(ago(1))]
    assert await store.put(records, now=NOW) == 4
    assert await store.put(records, now=NOW + timedelta(hours=1)) == 0  # idempotent
    assert await store.get("whoop", DataKind.SLEEP, "sleep-2026-11-20") == records[0]
    assert await store.get("whoop", DataKind.RECOVERY, "sleep-2026-11-20") is None
    assert await store.get("oura", DataKind.SLEEP, "sleep-2026-11-20") is None

    changed = sleep(ago(1), asleep_min=400)
    assert await store.put([changed, records[1]], now=NOW) == 1
    assert await store.get("whoop", DataKind.SLEEP, changed.source_id) == changed
    assert len(await everything(store)) == 4
    assert await store.put([], now=NOW) == 0


async def test_a_record_that_moves_to_another_day_is_found_on_its_new_day(home: Home) -> None:
    store = home.store
    moved = sleep(ago(2), "s-1")
    await store.put([sleep(ago(1), "s-1")], now=NOW)
    assert await store.put([moved], now=NOW) == 1
    assert (await store.read("whoop", [DataKind.SLEEP], days(ago(1), ago(1)))).sleeps == ()
    assert (await store.read("whoop", [DataKind.SLEEP], days(ago(2), ago(2)))).sleeps == (moved,)


async def test_the_same_id_of_two_providers_or_kinds_are_two_records(home: Home) -> None:
    store = home.store
    mine = sleep(ago(1), "42")
    theirs = sleep(ago(1), "42", provider="oura")
    other_kind = workout(ago(1)).model_copy(update={"source_id": "42"})
    assert await store.put([mine, theirs, other_kind], now=NOW) == 3
    assert await store.get("whoop", DataKind.SLEEP, "42") == mine
    assert await store.get("oura", DataKind.SLEEP, "42") == theirs
    assert await store.get("whoop", DataKind.WORKOUT, "42") == other_kind


async def test_every_kind_round_trips(home: Home) -> None:
    store = home.store
    records: list[Record] = [
        sleep(ago(1), state=ScoreState.PENDING),
        recovery(ago(1), state=ScoreState.UNSCORABLE),
        workout(ago(1)),
        cycle(ago(0), open_=True),
        readiness(ago(1), provider="whoop"),
        activity(ago(1), provider="whoop"),
        vitals(ago(1), provider="whoop"),
    ]
    await store.put(records, now=NOW)
    for record in records:
        assert await store.get("whoop", DataKind(record.kind), record.source_id) == record  # type: ignore[attr-defined]
    kept = await store.read("whoop", list(DataKind)[:7], days(ago(1), ago(0)))
    assert kept.sleeps == (records[0],)
    assert kept.cycles == (records[3],)
    assert kept.vitals == (records[6],)


# ------------------------------------------------------------ remove / read / scan
async def test_remove_deletes_one_record(home: Home) -> None:
    store = home.store
    await store.put([sleep(ago(1)), workout(ago(1))], now=NOW)
    assert await store.remove("whoop", DataKind.SLEEP, "sleep-2026-11-20") is True
    assert await store.remove("whoop", DataKind.SLEEP, "sleep-2026-11-20") is False
    assert await store.remove("whoop", DataKind.WORKOUT, "sleep-2026-11-20") is False
    assert [r.source_id for r in await everything(store)] == ["workout-2026-11-20-1"]


async def test_read_returns_the_kinds_and_days_asked_newest_first(home: Home) -> None:
    store = home.store
    await store.put(
        [sleep(ago(n)) for n in range(10)]
        + [workout(ago(n), 1) for n in range(10)]
        + [workout(ago(3), 2), sleep(ago(3), provider="oura")],
        now=NOW,
    )
    kept = await store.read("whoop", [DataKind.SLEEP, DataKind.WORKOUT], days(ago(5), ago(2)))
    assert [s.day for s in kept.sleeps] == [ago(2), ago(3), ago(4), ago(5)]
    assert len(kept.workouts) == 5
    assert kept.recoveries == ()
    only_sleep = await store.read("whoop", [DataKind.SLEEP], days(ago(3), ago(3)))
    assert [s.provider for s in only_sleep.sleeps] == ["whoop"]
    assert only_sleep.workouts == ()
    assert (await store.read("whoop", [], days(ago(9), ago(0)))).sleeps == ()


async def test_scan_streams_everything_in_order_with_filters(home: Home) -> None:
    store = home.store
    year = whoop_year(TODAY, days=400)  # more rows than one batch
    ring: list[Record] = [readiness(ago(n)) for n in range(5)]
    await store.put(year + ring, now=NOW)
    scanned = await everything(store)
    assert len(scanned) == len(year) + len(ring)
    order = [(r.provider, r.kind, r.day) for r in scanned]  # type: ignore[attr-defined]
    assert order == sorted(order)
    assert {r.source_id for r in scanned} == {r.source_id for r in year + ring}

    assert len(await everything(store, provider="oura")) == 5
    assert len(await everything(store, kinds=[DataKind.SLEEP])) == 400
    recent = await everything(store, provider="whoop", kinds=[DataKind.CYCLE], since=ago(9))
    assert [r.day for r in recent] == [ago(n) for n in range(9, -1, -1)]
    assert await everything(store, kinds=[]) == []


async def test_a_scan_left_early_releases_the_store(home: Home) -> None:
    store = home.store
    await store.put(whoop_year(TODAY, days=300), now=NOW)
    scan = store.scan()
    async for _record in scan:
        break
    await scan.aclose()  # type: ignore[attr-defined]
    assert await store.put([sleep(ago(500))], now=NOW) == 1


# ------------------------------------------------------------ replace
async def test_replace_makes_the_days_exactly_the_records_given(home: Home) -> None:
    store = home.store
    await store.put(
        [sleep(ago(n)) for n in range(5)]
        + [workout(ago(2), 1), workout(ago(2), 2), workout(ago(6), 1)]
        + [sleep(ago(2), "oura-sleep", provider="oura")],
        now=NOW,
    )
    fresh: list[Record] = [sleep(ago(2), asleep_min=400), workout(ago(2), 1), workout(ago(3), 3)]
    changed = await store.replace(
        "whoop", [DataKind.SLEEP, DataKind.WORKOUT], days(ago(3), ago(1)), fresh, now=NOW
    )
    # deleted: sleeps of 3 and 1 days ago, workout 2; put: changed sleep, new workout 3
    assert changed == 5
    kept = await store.read("whoop", WHOOP_KINDS, days(ago(10), ago(0)))
    assert [s.day for s in kept.sleeps] == [ago(0), ago(2), ago(4)]
    assert {w.source_id for w in kept.workouts} == {
        "workout-2026-11-19-1",
        "workout-2026-11-18-3",
        "workout-2026-11-15-1",
    }
    assert await store.get("oura", DataKind.SLEEP, "oura-sleep") is not None
    coverage = await store.coverage("whoop")
    assert coverage.covered(DataKind.SLEEP) == (Span(ago(3), ago(1), NOW),)
    assert coverage.covered(DataKind.WORKOUT) == (Span(ago(3), ago(1), NOW),)
    assert coverage.covered(DataKind.CYCLE) == ()


async def test_replace_with_nothing_empties_the_days_and_covers_them(home: Home) -> None:
    store = home.store
    await store.put([cycle(ago(n)) for n in range(3)], now=NOW)
    assert await store.replace("whoop", [DataKind.CYCLE], days(ago(1), ago(0)), [], now=NOW) == 2
    assert [r.day for r in await everything(store)] == [ago(2)]
    assert (await store.coverage("whoop")).covered(DataKind.CYCLE) == (Span(ago(1), ago(0), NOW),)
    # and again: nothing to change
    assert await store.replace("whoop", [DataKind.CYCLE], days(ago(1), ago(0)), [], now=NOW) == 0


async def test_replace_refuses_another_providers_records(home: Home) -> None:
    with pytest.raises(ValueError, match="oura"):
        await home.store.replace(
            "whoop",
            [DataKind.SLEEP],
            days(ago(1), ago(1)),
            [sleep(ago(1), provider="oura")],
            now=NOW,
        )
    assert await everything(home.store) == []


# ------------------------------------------------------------ coverage
async def test_cover_merges_spans_that_touch_or_overlap(home: Home) -> None:
    store = home.store
    later = NOW + timedelta(hours=2)
    await store.cover("whoop", [DataKind.SLEEP], days(ago(30), ago(20)), now=NOW)
    await store.cover("whoop", [DataKind.SLEEP], days(ago(10), ago(5)), now=NOW)
    assert (await store.coverage("whoop")).covered(DataKind.SLEEP) == (
        Span(ago(30), ago(20), NOW),
        Span(ago(10), ago(5), NOW),
    )
    await store.cover("whoop", [DataKind.SLEEP, DataKind.CYCLE], days(ago(19), ago(0)), now=later)
    coverage = await store.coverage("whoop")
    assert coverage.covered(DataKind.SLEEP) == (Span(ago(30), ago(0), later),)
    assert coverage.covered(DataKind.CYCLE) == (Span(ago(19), ago(0), later),)
    # an old stretch read again keeps the newest days' refresh time
    await store.cover("whoop", [DataKind.SLEEP], days(ago(40), ago(25)), now=later + timedelta(1))
    assert (await store.coverage("whoop")).covered(DataKind.SLEEP) == (
        Span(ago(40), ago(0), later),
    )
    assert (await store.coverage("oura")).spans == {}


async def test_coverage_counts_records_and_lists_unfinished_backfills(home: Home) -> None:
    store = home.store
    await store.put([sleep(ago(1)), sleep(ago(2)), workout(ago(1)), readiness(ago(1))], now=NOW)
    await store.save_page("whoop", [], cursor("sleep"), now=NOW)
    await store.save_page("whoop", [], cursor("cycle", token=None, done=True), now=NOW)
    coverage = await store.coverage("whoop")
    assert coverage.provider == "whoop"
    assert coverage.counts == {DataKind.SLEEP: 2, DataKind.WORKOUT: 1}
    assert coverage.total == 3
    assert coverage.backfill == {"sleep": cursor("sleep")}
    assert (await store.coverage("oura")).counts == {DataKind.READINESS: 1}


# ------------------------------------------------------------ save_page
async def test_save_page_stores_the_records_and_moves_the_cursor(home: Home) -> None:
    store = home.store
    first = [sleep(ago(n)) for n in range(25)]
    await store.save_page("whoop", first, cursor(token="page-2"), now=NOW)
    second = cursor(token="page-3")
    await store.save_page("whoop", [sleep(ago(n)) for n in range(25, 50)], second, now=NOW)
    coverage = await store.coverage("whoop")
    assert coverage.counts == {DataKind.SLEEP: 50}
    assert coverage.backfill["sleep"] == second
    # a page stored again (a retry after a crash) changes nothing
    await store.save_page("whoop", first, second, now=NOW)
    assert (await store.coverage("whoop")).counts == {DataKind.SLEEP: 50}


async def test_a_page_whose_cursor_write_fails_stores_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = home.store
    await store.save_page("whoop", [sleep(ago(0))], cursor(token="page-2"), now=NOW)
    with monkeypatch.context() as patch:
        home.break_cursor_write(patch)
        with pytest.raises(RuntimeError, match="died"):
            await store.save_page(
                "whoop", [sleep(ago(n)) for n in range(1, 26)], cursor(token="page-3"), now=NOW
            )
    coverage = await store.coverage("whoop")
    assert coverage.counts == {DataKind.SLEEP: 1}
    assert coverage.backfill["sleep"].cursor == "page-2"
    # and the store still works
    await store.save_page("whoop", [sleep(ago(1))], cursor(token="page-3"), now=NOW)
    assert (await store.coverage("whoop")).backfill["sleep"].cursor == "page-3"


# ------------------------------------------------------------ unsettled / forget
async def test_unsettled_days_are_those_with_a_record_not_yet_scored(home: Home) -> None:
    store = home.store
    await store.put(
        [sleep(ago(n)) for n in range(10)]
        + [
            sleep(ago(8), "nap", state=ScoreState.PENDING),
            recovery(ago(1), state=ScoreState.PENDING),
            recovery(ago(2), state=ScoreState.UNSCORABLE),
            cycle(ago(0), open_=True),
            cycle(ago(1)),
            readiness(ago(3), provider="whoop", scored=False),
            sleep(ago(4), "oura-s", provider="oura", state=ScoreState.PENDING),
        ],
        now=NOW,
    )
    every = [DataKind.SLEEP, DataKind.RECOVERY, DataKind.CYCLE, DataKind.READINESS]
    assert await store.unsettled_days("whoop", every, ago(30)) == (ago(8), ago(3), ago(1), ago(0))
    assert await store.unsettled_days("whoop", every, ago(2)) == (ago(1), ago(0))
    assert await store.unsettled_days("whoop", [DataKind.RECOVERY], ago(30)) == (ago(1),)
    assert await store.unsettled_days("whoop", [DataKind.WORKOUT], ago(30)) == ()
    assert await store.unsettled_days("whoop", [], ago(30)) == ()
    # scored at last: settled
    await store.put([recovery(ago(1)), cycle(ago(0))], now=NOW)
    assert await store.unsettled_days("whoop", every, ago(2)) == ()


async def test_forget_deletes_one_providers_records_spans_and_cursors(home: Home) -> None:
    store = home.store
    await store.put([sleep(ago(n)) for n in range(3)] + [readiness(ago(1))], now=NOW)
    await store.cover("whoop", [DataKind.SLEEP], days(ago(2), ago(0)), now=NOW)
    await store.cover("oura", [DataKind.READINESS], days(ago(2), ago(0)), now=NOW)
    await store.save_page("whoop", [], cursor(), now=NOW)
    assert await store.forget("whoop") == 3
    coverage = await store.coverage("whoop")
    assert (coverage.spans, coverage.counts, coverage.backfill) == ({}, {}, {})
    oura = await store.coverage("oura")
    assert oura.counts == {DataKind.READINESS: 1}
    assert oura.covered(DataKind.READINESS) == (Span(ago(2), ago(0), NOW),)
    assert await store.forget("whoop") == 0


def test_kinds_under_test_match_the_stores_kinds() -> None:
    from wellpipe.core.history import KIND_MODELS

    assert set(KIND_MODELS) == set(list(DataKind)[:7])
