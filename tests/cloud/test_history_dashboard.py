"""The dashboard's view of the history, on SQLite and PostgreSQL: the service, the card, the
polled fragment, and what disconnecting does to what is kept.

The history is seeded the way the sync engine writes it (`UserHistory.save_page` with a
`SyncCursor`, `UserHistory.cover` when a stream finishes); no job runs in these tests.
"""

from __future__ import annotations

import html as html_text
import re
from datetime import UTC, date, datetime, timedelta

from tests.cloud.conftest import Cloud
from tests.cloud.test_dashboard import connect_whoop, page, sign_up, submit, whoop_card
from tests.history.records import activity, cycle, recovery, sleep, workout
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.services.history_status import (
    QUEUED_POLL,
    history_status,
    provider_history,
)
from wellpipe.core.history import SyncCursor
from wellpipe.core.models import DataKind, DayRange, Record
from wellpipe.core.reading import EARLIEST
from wellpipe.core.sync import backfill_window

TODAY = date(2026, 11, 21)
WHOOP_KINDS = {DataKind.SLEEP, DataKind.RECOVERY, DataKind.CYCLE, DataKind.WORKOUT}
HTMX_HEADERS = {"HX-Request": "true", "Sec-Fetch-Site": "same-origin"}


def day_range(first: date, last: date) -> DayRange:
    return DayRange(first=first, last=last)


def days_back(count: int, *, end: date = TODAY) -> list[date]:
    return [end - timedelta(days=n) for n in range(count)]


def whoop_days(days: list[date]) -> list[Record]:
    found: list[Record] = []
    for day in days:
        found += [sleep(day), recovery(day), cycle(day)]
    found += [workout(day) for day in days[::3]]
    return found


def text_of(fragment: str) -> str:
    """What a person reads: tags out, entities decoded, spaces collapsed."""
    spaced = " ".join(html_text.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([.,;:)])", r"\1", spaced)


def history_card(html: str) -> str:
    found = re.search(r'<section class="card history".*?</section>', html, re.S)
    assert found, "no history card"
    return found.group(0)


async def complete_whoop(cloud: Cloud, user_id: str, days: list[date]) -> int:
    """A finished backfill of ``days``: the records kept and every kind covered back to 2010."""
    store = UserHistory.of(cloud.ctx, user_id)
    records = whoop_days(days)
    await store.put(records, now=cloud.clock.now())
    await store.cover("whoop", WHOOP_KINDS, day_range(EARLIEST, TODAY), now=cloud.clock.now())
    return len(records)


async def sleep_page(
    cloud: Cloud, user_id: str, days: list[date], *, pages: int, done: bool = False
) -> None:
    """One page of WHOOP's sleep stream (newest first), saved with its cursor."""
    window = backfill_window(datetime(2026, 11, 21, 15, 0, tzinfo=UTC))
    store = UserHistory.of(cloud.ctx, user_id)
    await store.save_page(
        "whoop",
        [sleep(day) for day in days],
        SyncCursor(
            stream="sleep",
            window=window,
            cursor=None if done else f"page-{pages + 1}",
            pages=pages,
            records=25 * pages,
            requests=pages,
            started_at=window.end,
            done=done,
        ),
        now=cloud.clock.now(),
    )
    if done:
        await store.cover("whoop", {DataKind.SLEEP}, day_range(EARLIEST, TODAY), now=window.end)


# ---------------------------------------------------------------------- the service
async def test_a_finished_history_says_from_when_to_when_per_kind(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)
    kept = await complete_whoop(cloud, user_id, days_back(400))
    cloud.clock.advance(7 * 60)

    view = await history_status(cloud.ctx, user_id)

    [whoop] = view.providers
    assert whoop.display_name == "WHOOP"
    assert whoop.total == kept
    assert whoop.covered_from == TODAY - timedelta(days=399)  # the oldest record, not 2010
    assert whoop.covered_to == TODAY
    assert whoop.gaps == ()
    assert whoop.backfill.state == "done"
    assert whoop.backfill.percent == 100
    assert not view.polling
    assert whoop.refreshed_at is not None
    counts = {row.kind: row.records for row in whoop.kinds}
    assert counts == {
        DataKind.SLEEP: 400,
        DataKind.RECOVERY: 400,
        DataKind.WORKOUT: 134,
        DataKind.CYCLE: 400,
    }

    card = text_of(history_card((await page(cloud, "/dashboard")).text))
    assert "All history kept" in card
    assert f"Kept {kept:,} records" in card
    assert "Covered 18 Oct 2025 to 21 Nov 2026" in card
    assert "Refreshed 7 minutes ago" in card
    assert "Day strain 400 records" in card  # WHOOP's cycle, in words
    assert "cycle" not in card.lower()


async def test_holes_between_covered_days_are_named(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)
    store = UserHistory.of(cloud.ctx, user_id)
    now = cloud.clock.now()
    await store.put([sleep(day) for day in days_back(10)], now=now)
    await store.put([sleep(day) for day in days_back(5, end=TODAY - timedelta(days=30))], now=now)
    await store.cover(
        "whoop", {DataKind.SLEEP}, day_range(TODAY - timedelta(days=9), TODAY), now=now
    )
    await store.cover(
        "whoop",
        {DataKind.SLEEP},
        day_range(TODAY - timedelta(days=34), TODAY - timedelta(days=30)),
        now=now,
    )

    whoop = await provider_history(cloud.ctx, user_id, "whoop")

    assert whoop.covered_from == TODAY - timedelta(days=34)
    assert whoop.covered_to == TODAY
    assert whoop.gaps == (day_range(TODAY - timedelta(days=29), TODAY - timedelta(days=10)),)
    assert whoop.partly_covered == (DataKind.SLEEP,)
    card = text_of(history_card((await page(cloud, "/dashboard")).text))
    assert "with 1 gap not read yet (the first: 23 Oct 2026 to 11 Nov 2026)" in card


async def test_a_newest_first_backfill_shows_about_how_far_it_read(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)

    fresh = await provider_history(
        cloud.ctx, user_id, "whoop", connected_at=cloud.clock.now() - timedelta(minutes=1)
    )
    assert fresh.backfill.state == "not_started"
    assert fresh.backfill.queued  # the job may start any moment
    assert fresh.polling
    stale = await provider_history(
        cloud.ctx, user_id, "whoop", connected_at=cloud.clock.now() - QUEUED_POLL * 2
    )
    assert stale.backfill.state == "not_started"
    assert not stale.polling

    # WHOOP pages newest first: 25 sleeps a page, the window reaching back to 2010.
    await sleep_page(cloud, user_id, days_back(25), pages=1)
    first = (await provider_history(cloud.ctx, user_id, "whoop")).backfill
    assert first.state == "running"
    assert first.newest_first
    assert first.stream_kinds == (DataKind.SLEEP,)
    assert (first.pages, first.records) == (1, 25)
    assert first.reached == TODAY - timedelta(days=24)
    assert first.streams_done == 0
    assert first.streams_total == 4
    assert first.percent == 0  # 25 days of a window since 2010, a quarter of the work

    await sleep_page(cloud, user_id, days_back(25, end=TODAY - timedelta(days=700)), pages=2)
    second = (await provider_history(cloud.ctx, user_id, "whoop")).backfill
    assert second.reached == TODAY - timedelta(days=724)
    assert second.percent > first.percent

    # The stream reaches the start of the history: now where it starts is known, and the
    # next stream's share is measured against it.
    await sleep_page(cloud, user_id, [], pages=3, done=True)
    between = await provider_history(cloud.ctx, user_id, "whoop")
    assert between.backfill.state == "running"
    assert between.backfill.streams_done == 1
    assert between.backfill.percent == 25
    assert between.covered_from == TODAY - timedelta(days=724)

    store = UserHistory.of(cloud.ctx, user_id)
    await store.save_page(
        "whoop",
        [recovery(day) for day in days_back(362)],
        SyncCursor(
            stream="recovery",
            window=backfill_window(datetime(2026, 11, 21, 15, 0, tzinfo=UTC)),
            cursor="next",
            pages=15,
            records=362,
        ),
        now=cloud.clock.now(),
    )
    halfway = await provider_history(cloud.ctx, user_id, "whoop")
    assert halfway.backfill.stream_kinds == (DataKind.RECOVERY,)
    assert halfway.backfill.percent == 37  # 1 stream + about half of the second, of 4
    assert halfway.polling

    card = text_of(history_card((await page(cloud, "/dashboard")).text))
    assert "Reading history" in card
    assert "About 37% read, newest first: back to 25 Nov 2025 so far." in card
    assert "Part 2 of 4 (recovery): 15 pages, 362 records read." in card


async def test_an_oldest_first_backfill_measures_from_where_the_history_starts(
    cloud: Cloud,
) -> None:
    user_id = await sign_up(cloud)
    store = UserHistory.of(cloud.ctx, user_id)
    start = TODAY - timedelta(days=999)
    # Oura pages oldest first: its first stream's first pages begin at the history's start.
    await store.save_page(
        "oura",
        [activity(start + timedelta(days=n)) for n in range(500)],
        SyncCursor(
            stream="daily_activity",
            window=backfill_window(datetime(2026, 11, 21, 15, 0, tzinfo=UTC)),
            cursor="next",
            pages=10,
            records=500,
        ),
        now=cloud.clock.now(),
    )

    oura = await provider_history(cloud.ctx, user_id, "oura")

    assert oura.backfill.state == "running"
    assert not oura.backfill.newest_first
    assert oura.backfill.reached == start + timedelta(days=499)
    assert oura.backfill.percent == 16  # half of the first of 3 streams


# ---------------------------------------------------------------------- the fragment
async def test_the_fragment_polls_only_while_the_backfill_runs(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)
    await sleep_page(cloud, user_id, days_back(25), pages=1)

    dashboard = (await page(cloud, "/dashboard")).text
    assert 'hx-get="/dashboard/history"' in history_card(dashboard)
    assert 'hx-trigger="every 3s"' in history_card(dashboard)
    assert re.search(r'<script src="/static/htmx\.min\.js\?v=[0-9a-f]+" defer>', dashboard)
    assert 'id="history-title"' in dashboard

    polled = await cloud.client.get("/dashboard/history", headers=HTMX_HEADERS)
    assert polled.status_code == 200
    assert polled.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in polled.headers["content-security-policy"]
    assert polled.text.lstrip().startswith('<section class="card history"')
    assert "<html" not in polled.text
    assert 'hx-trigger="every 3s"' in polled.text
    assert "Just started, newest first: back to" in text_of(polled.text)

    await sleep_page(cloud, user_id, [], pages=2, done=True)
    for stream in ("recovery", "cycle", "workout"):
        await UserHistory.of(cloud.ctx, user_id).cover(
            "whoop",
            {DataKind(stream)},
            day_range(EARLIEST, TODAY),
            now=cloud.clock.now(),
        )
    finished = await cloud.client.get("/dashboard/history", headers=HTMX_HEADERS)
    assert finished.status_code == 200
    assert "hx-get" not in finished.text  # the swap ends the polling
    assert "hx-trigger" not in finished.text
    assert 'data-polling="no"' in finished.text
    assert "All history kept" in finished.text


async def test_the_fragment_needs_a_session_and_shows_only_the_users_own(cloud: Cloud) -> None:
    ada = await sign_up(cloud, "ada@example.com")
    await connect_whoop(cloud)
    ada_kept = await complete_whoop(cloud, ada, days_back(300))
    assert f"{ada_kept:,} records" in (await cloud.client.get("/dashboard/history")).text

    await submit(cloud, "/signout")
    signed_out = await cloud.client.get("/dashboard/history", headers=HTMX_HEADERS)
    assert signed_out.status_code == 401
    assert "sign in" in text_of(signed_out.text)
    assert "hx-get" not in signed_out.text  # an expired session stops the polling
    assert f"{ada_kept:,}" not in signed_out.text

    bob = await sign_up(cloud, "bob@example.com")
    await connect_whoop(cloud)
    bob_kept = await complete_whoop(cloud, bob, days_back(20))
    mine = await cloud.client.get("/dashboard/history", headers=HTMX_HEADERS)
    assert mine.status_code == 200
    assert f"Kept {bob_kept:,} records" in text_of(mine.text)
    assert f"{ada_kept:,}" not in mine.text
    assert "26 Jan 2026" not in mine.text  # nor Ada's oldest day
    bob_view = await history_status(cloud.ctx, bob)
    assert [entry.total for entry in bob_view.providers] == [bob_kept]
    # Ada's history is untouched by anything Bob sees or does.
    assert (await UserHistory.of(cloud.ctx, ada).coverage("whoop")).total == ada_kept


async def test_no_card_without_a_connection(cloud: Cloud) -> None:
    await sign_up(cloud)
    dashboard = (await page(cloud, "/dashboard")).text
    assert 'class="card history"' not in dashboard
    empty = await cloud.client.get("/dashboard/history", headers=HTMX_HEADERS)
    assert empty.status_code == 200
    assert "Nothing kept yet" in empty.text
    assert "hx-get" not in empty.text


# ---------------------------------------------------------------------- disconnecting
async def test_disconnecting_deletes_what_is_kept_and_says_so_first(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)
    kept = await complete_whoop(cloud, user_id, days_back(30))
    await UserHistory.of(cloud.ctx, user_id).put([activity(TODAY)], now=cloud.clock.now())

    card = text_of(whoop_card((await page(cloud, "/dashboard")).text))
    assert (
        f"Disconnecting deletes the {kept:,} records Wellpipe keeps from WHOOP; "
        "you can download them first."
    ) in card
    assert 'href="#export-title"' in whoop_card((await page(cloud, "/dashboard")).text)

    removed = await submit(cloud, "/disconnect/whoop")
    assert removed.status_code == 303
    after = (await page(cloud, "/dashboard")).text
    assert f"The {kept:,} records Wellpipe kept from WHOOP are deleted." in after
    coverage = await UserHistory.of(cloud.ctx, user_id).coverage("whoop")
    assert coverage.total == 0
    assert coverage.spans == {}
    assert coverage.backfill == {}
    # Another provider's history is not WHOOP's to delete.
    assert (await UserHistory.of(cloud.ctx, user_id).coverage("oura")).total == 1
    assert 'class="card history"' not in after


async def test_a_connection_with_nothing_kept_says_so(cloud: Cloud) -> None:
    await sign_up(cloud)
    card = text_of(whoop_card((await connect_whoop(cloud)).text))
    assert "Disconnecting also deletes anything Wellpipe keeps from WHOOP (nothing yet)." in card
