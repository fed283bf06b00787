"""The cloud's history store beyond the shared contract: what is in the clear, its data key,
concurrent writers (several workers), and a year read back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import anyio
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from tests.cloud.conftest import new_key_ring
from tests.history.records import sleep, whoop_year
from wellpipe.cloud.db import Database
from wellpipe.cloud.db import history as history_module
from wellpipe.cloud.db.history import (
    HistoryOwnerGoneError,
    UserHistory,
    destroy_data_key,
    erase_history,
)
from wellpipe.cloud.db.migrate import upgrade_database
from wellpipe.cloud.db.tables import HistoryCursor, HistoryKey, HistoryRecord, User
from wellpipe.cloud.security.crypto import KeyRing, TokenCipher, key_id_of
from wellpipe.core.history import SyncCursor, encode_record
from wellpipe.core.models import DataKind, DayRange, Record, TimeWindow

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
TODAY = date(2026, 11, 21)
KEYS = new_key_ring("k1")
WHOOP = [DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_database(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        for user in ("alice", "bob"):
            session.add(User(id=user, email=f"{user}@example.test", created_at=NOW))
    yield database
    await database.dispose()


def store(db: Database, user: str = "alice") -> UserHistory:
    return UserHistory(db, TokenCipher(KeyRing.parse(KEYS)), user, now=lambda: NOW)


def _columns(connection: Connection) -> dict[str, set[str]]:
    found = inspect(connection)
    return {
        table: {column["name"] for column in found.get_columns(table)}
        for table in ("history_keys", "history_records", "history_spans", "history_cursors")
    }


async def test_only_what_finding_rows_needs_is_in_the_clear(db: Database) -> None:
    """The README's list: any new clear column must be added there (and here) knowingly."""
    async with db.engine.connect() as connection:
        columns = await connection.run_sync(_columns)
    assert columns == {
        "history_keys": {"user_id", "key_id", "wrapped", "created_at"},
        "history_records": {"user_id", "provider", "kind", "id_digest", "day", "sealed"},
        "history_spans": {"user_id", "provider", "kind", "first", "last", "refreshed_at"},
        "history_cursors": {"user_id", "provider", "stream", "sealed"},
    }
    record = sleep(TODAY, "whoop-sleep-8812")
    cursor = SyncCursor(
        stream="sleep",
        window=TimeWindow(start=NOW - timedelta(days=30), end=NOW),
        cursor="MTcwMDAwMDAwMA==",
    )
    await store(db).save_page("whoop", [record], cursor, now=NOW)
    async with db.sessions() as session:
        [row] = (await session.execute(select(HistoryRecord.__table__))).all()
        [kept_cursor] = (await session.execute(select(HistoryCursor.__table__))).all()
        [key] = (await session.execute(select(HistoryKey.__table__))).all()
    assert (row.user_id, row.provider, row.kind, row.day) == ("alice", "whoop", "sleep", TODAY)
    assert len(row.id_digest) == 64
    assert "8812" not in row.id_digest
    for secret in (b"whoop-sleep-8812", b"2026-11-2", b"scored", b"440"):
        assert secret not in row.sealed
    assert b"MTcwMDAwMDAwMA" not in kept_cursor.sealed
    assert key.key_id == key_id_of(key.wrapped) == "k1"


async def test_the_data_key_is_made_once_even_by_concurrent_first_writes(
    db: Database, database_url: str
) -> None:
    """Two workers (their own engines and key caches) write a user's first records at once."""
    other = Database(database_url)
    try:
        first, second = store(db), store(other)
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: first.put([sleep(TODAY)], now=NOW))
            group.start_soon(lambda: second.put([sleep(TODAY - timedelta(days=1))], now=NOW))
        async with db.sessions() as session:
            assert len(list(await session.scalars(select(HistoryKey)))) == 1
        third = Database(database_url)
        try:
            kept = await store(third).read(
                "whoop", WHOOP, DayRange(first=TODAY - timedelta(1), last=TODAY)
            )
            assert len(kept.sleeps) == 2
        finally:
            await third.dispose()
    finally:
        await other.dispose()


async def test_concurrent_writers_of_the_same_records_never_fail(
    db: Database, database_url: str
) -> None:
    """A webhook fetch and a backfill page upsert the same records at once (ON CONFLICT)."""
    records = whoop_year(TODAY, days=20)
    changed: list[Record] = [
        r.model_copy(update={"extras": {"seen": n}}) for n, r in enumerate(records)
    ]
    await store(db).put(records[:1], now=NOW)  # the key exists
    workers = [Database(database_url) for _ in range(3)]
    try:

        async def put(worker: Database, batch: list[Record]) -> None:
            await store(worker).put(batch, now=NOW)

        async with anyio.create_task_group() as group:
            for n, worker in enumerate(workers):
                group.start_soon(put, worker, changed if n % 2 else records)
        async with db.sessions() as session:
            count = len((await session.execute(select(HistoryRecord.id_digest))).all())
        assert count == len(records)
        kept = [r async for r in store(db).scan()]
        assert {encode_record(r) for r in kept} <= {encode_record(r) for r in [*records, *changed]}
    finally:
        for worker in workers:
            await worker.dispose()


async def test_a_destroyed_key_leaves_nothing_readable_and_is_not_remade_for_reads(
    db: Database,
) -> None:
    alice, bob = store(db), store(db, "bob")
    await alice.put(whoop_year(TODAY, days=5), now=NOW)
    await bob.put(whoop_year(TODAY, days=5), now=NOW)
    assert await alice.get("whoop", DataKind.SLEEP, "sleep-2026-11-21") is not None  # cached
    assert await destroy_data_key(db, "alice")
    assert not await destroy_data_key(db, "alice")  # idempotent
    days = DayRange(first=TODAY - timedelta(days=10), last=TODAY)
    assert await alice.get("whoop", DataKind.SLEEP, "sleep-2026-11-21") is None
    assert (await alice.read("whoop", WHOOP, days)).sleeps == ()
    assert [r async for r in alice.scan()] == []
    assert await alice.unsettled_days("whoop", WHOOP, days.first) == ()
    async with db.sessions() as session:
        assert list(await session.scalars(select(HistoryKey.user_id))) == ["bob"]
    assert await erase_history(db, "alice") == len(whoop_year(TODAY, days=5))
    assert len((await bob.read("whoop", WHOOP, days)).sleeps) == 5


async def test_a_deleted_account_gets_no_new_history(db: Database) -> None:
    with pytest.raises(HistoryOwnerGoneError):
        await store(db, "nobody").put([sleep(TODAY)], now=NOW)


async def test_the_key_cache_is_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "KEY_CACHE_SIZE", 1)
    await store(db).put([sleep(TODAY)], now=NOW)
    await store(db, "bob").put([sleep(TODAY)], now=NOW)
    cache = history_module._cache(db)
    assert cache.get("bob") is not None
    assert cache.get("alice") is None  # evicted; read again from its wrapped row
    assert await store(db).get("whoop", DataKind.SLEEP, "sleep-2026-11-21") == sleep(TODAY)


async def test_a_year_reads_back_in_milliseconds(db: Database) -> None:
    year = whoop_year(TODAY)
    alice = store(db)
    await alice.put(year, now=NOW)
    window = DayRange(first=TODAY - timedelta(days=364), last=TODAY)
    await alice.read("whoop", WHOOP, window)  # warm
    started = time.perf_counter()
    kept = await alice.read("whoop", WHOOP, window)
    elapsed = time.perf_counter() - started
    assert sum(len(k) for k in (kept.sleeps, kept.recoveries, kept.workouts, kept.cycles)) == len(
        year
    )
    assert elapsed < 2.0  # ~60-90 ms on the development machine (open + decode ~1,400 rows)
