"""The history card in a real browser (Debian's Chromium) on a phone: it fits, and it moves.

``wellpipe cloud serve`` runs with its job worker off, so no backfill runs by itself:
the test writes the pages into the service's SQLite history the way the sync engine
does (`UserHistory.save_page`, then `cover`), and the open dashboard, polling its
fragment with htmx, shows each step without a reload. Waits are on conditions
(Playwright's ``expect``), never on time.

Locally this skips when Chromium or Playwright is missing; under ``CI=true`` it fails.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cloud.browser_support import Service, browser_missing, serve, watched_page
from tests.cloud.conftest import new_key_ring, require_service
from tests.cloud.test_browser import LAYOUT_PROBLEMS, PASSWORD, PHONE
from tests.history.records import cycle, recovery, sleep, workout
from wellpipe.cloud.db import Database
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.tables import User
from wellpipe.cloud.security.crypto import KeyRing, TokenCipher
from wellpipe.core.history import SyncCursor
from wellpipe.core.models import DataKind, DayRange, Record
from wellpipe.core.reading import EARLIEST
from wellpipe.core.sync import backfill_window

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCREENSHOTS = Path("/tmp")
EMAIL = "pia@example.com"


@dataclass
class Running:
    service: Service
    database_url: str
    keys: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    require_service(browser_missing())
    home = tmp_path / "home"
    url = f"sqlite+aiosqlite:///{home / 'cloud.db'}"
    keys = new_key_ring("k1")
    env = {
        "WELLPIPE_DATABASE_URL": url,
        "WELLPIPE_ENCRYPTION_KEYS": keys,
        "WELLPIPE_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "WELLPIPE_JOBS_IN_PROCESS": "false",
    }
    with serve(home, env=env) as service:
        yield Running(service=service, database_url=url, keys=keys)


@pytest.fixture
async def database(running: Running) -> AsyncIterator[Database]:
    db = Database(running.database_url)
    try:
        yield db
    finally:
        await db.dispose()


async def user_history(db: Database, keys: str) -> UserHistory:
    async with db.sessions() as session:
        user_id = (await session.execute(select(User.id).where(User.email == EMAIL))).scalar_one()
    return UserHistory(db, TokenCipher(KeyRing.parse(keys)), user_id)


def days_back(end: date, count: int) -> list[date]:
    return [end - timedelta(days=n) for n in range(count)]


async def save(
    store: UserHistory, stream: str, records: list[Record], *, pages: int, now: datetime
) -> None:
    window = backfill_window(now)
    cursor = SyncCursor(
        stream=stream, window=window, cursor=f"p{pages}", pages=pages, records=len(records)
    )
    await store.save_page("whoop", records, cursor, now=now)


async def finish(store: UserHistory, stream: str, kind: DataKind, *, now: datetime) -> None:
    done = SyncCursor(
        stream=stream, window=backfill_window(now), cursor=None, pages=1, records=0, done=True
    )
    await store.save_page("whoop", [], done, now=now)
    today = now.date()
    await store.cover("whoop", {kind}, DayRange(first=EARLIEST, last=today), now=now)


async def test_the_history_card_fits_a_phone_and_follows_the_backfill(
    running: Running, database: Database, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    url = running.service.url
    async with watched_page(tmp_path / "profile") as (page, problems):
        await page.set_viewport_size(PHONE)
        await page.goto(url + "/signup")
        await page.fill("#email", EMAIL)
        await page.fill("#password", PASSWORD)
        await page.click("button:has-text('Create account')")
        await page.wait_for_url("**/dashboard")
        await page.locator("[data-provider=whoop] form[action^='/connect/'] button").click()
        await page.wait_for_url("**/dashboard")

        card = page.locator("[data-testid=history]")
        whoop = card.locator("[data-history=whoop]")
        progress = whoop.locator("[data-testid=progress-whoop]")
        await expect(whoop).to_have_attribute("data-state", "not_started")
        await expect(card).to_have_attribute("data-polling", "yes")  # just connected
        note = page.locator("[data-testid=disconnect-note-whoop]")
        await expect(note).to_contain_text("(nothing yet)")

        # The first page of sleeps, newest first: the open page picks it up by itself.
        now = datetime.now(UTC)
        today = now.date()
        store = await user_history(database, running.keys)
        await save(store, "sleep", [sleep(d) for d in days_back(today, 25)], pages=1, now=now)
        await expect(whoop).to_have_attribute("data-state", "running")
        oldest = today - timedelta(days=24)
        await expect(progress).to_contain_text(f"back to {oldest.day} {oldest:%b %Y} so far")
        await expect(progress).to_contain_text("Part 1 of 4 (sleep): 1 page, 25 records read")
        await expect(whoop.locator("[data-testid=kept-whoop]")).to_have_text("25 records")
        assert await page.evaluate(LAYOUT_PROBLEMS) == []
        await card.screenshot(path=str(SCREENSHOTS / "wellpipe-history-phone-running.png"))

        # Sleeps done, recoveries half way: the estimate moves on the open page.
        older = days_back(today - timedelta(days=25), 340)
        await save(store, "sleep", [sleep(d) for d in older], pages=15, now=now)
        await finish(store, "sleep", DataKind.SLEEP, now=now)
        await expect(progress).to_have_attribute("data-percent", "25")
        every_day = days_back(today, 365)
        await save(store, "recovery", [recovery(d) for d in every_day[:180]], pages=8, now=now)
        await expect(progress).to_have_attribute("data-percent", "37")
        await expect(progress).to_contain_text("About 37% read")
        meter = progress.locator("[role=progressbar]")
        await expect(meter).to_have_attribute("aria-valuenow", "37")
        assert await page.evaluate(LAYOUT_PROBLEMS) == []
        await page.screenshot(
            path=str(SCREENSHOTS / "wellpipe-history-phone-page.png"), full_page=True
        )

        # Everything read: the card says so and stops asking.
        await save(store, "recovery", [recovery(d) for d in every_day[180:]], pages=16, now=now)
        await finish(store, "recovery", DataKind.RECOVERY, now=now)
        await save(store, "cycle", [cycle(d) for d in every_day], pages=15, now=now)
        await finish(store, "cycle", DataKind.CYCLE, now=now)
        await save(store, "workout", [workout(d) for d in every_day[::4]], pages=4, now=now)
        await finish(store, "workout", DataKind.WORKOUT, now=now)
        await expect(whoop).to_have_attribute("data-state", "done")
        await expect(card).to_have_attribute("data-polling", "no")
        assert await card.get_attribute("hx-trigger") is None
        kept = 365 * 3 + len(every_day[::4])
        await expect(whoop.locator("[data-testid=kept-whoop]")).to_have_text(f"{kept:,} records")
        first = today - timedelta(days=364)
        await expect(whoop.locator("[data-testid=covered-whoop]")).to_have_text(
            f"{first.day} {first:%b %Y} to {today.day} {today:%b %Y}"
        )
        assert await page.evaluate(LAYOUT_PROBLEMS) == []
        await card.screenshot(path=str(SCREENSHOTS / "wellpipe-history-phone-done.png"))

        # The disconnect copy counts what would go (read on a fresh load).
        await page.reload()
        await expect(note).to_contain_text(
            f"Disconnecting deletes the {kept:,} records Wellpipe keeps from WHOOP"
        )
        await page.locator("[data-provider=whoop]").screenshot(
            path=str(SCREENSHOTS / "wellpipe-history-phone-disconnect.png")
        )
    assert problems == [], problems
    assert "Traceback" not in running.service.log_text()
