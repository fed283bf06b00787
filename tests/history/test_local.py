"""The self-hosted store's own promises: its file, its schema version, several processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.history.records import sleep, whoop_year
from wellpipe.core.history import decode_record, encode_record, record_kind
from wellpipe.core.models import DataKind, DayRange, Record
from wellpipe.history.local import (
    FILE_NAME,
    SCHEMA_VERSION,
    HistoryFileError,
    LocalHistory,
    history_path,
)

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
TODAY = date(2026, 11, 21)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_lives_in_the_home() -> None:
    assert history_path(Path("/home/me/.wellpipe")) == Path("/home/me/.wellpipe") / FILE_NAME
    assert FILE_NAME == "history.sqlite3"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
async def test_the_file_and_its_wal_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        async with LocalHistory(tmp_path / "home" / FILE_NAME) as store:
            await store.put([sleep(TODAY)], now=NOW)
            files = sorted((tmp_path / "home").iterdir())
            assert [f.name for f in files] == [FILE_NAME, f"{FILE_NAME}-shm", f"{FILE_NAME}-wal"]
            assert {f.name: mode(f) for f in files} == dict.fromkeys((f.name for f in files), 0o600)
            assert mode(tmp_path / "home") == 0o700
    finally:
        os.umask(previous)


async def test_the_file_is_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    await (await LocalHistory.open(path)).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
    assert {"records", "spans", "cursors", "records_by_day"} <= tables
    raw.close()


async def test_a_file_from_a_newer_wellpipe_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(HistoryFileError, match="upgrade Wellpipe"):
        await LocalHistory.open(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    raw.close()


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not a database at all, " * 100)
    with pytest.raises(HistoryFileError, match="not a Wellpipe history file"):
        await LocalHistory.open(path)


async def test_records_and_instants_are_stored_as_the_contract_says(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    async with LocalHistory(path) as store:
        record = sleep(TODAY).model_copy(update={"extras": {"updated_at": "2026-11-21T08:00:00Z"}})
        await store.put([record], now=NOW)
    with sqlite3.connect(path) as raw:
        row = raw.execute(
            "SELECT provider, kind, source_id, day, state, updated_at, synced_at, payload "
            "FROM records"
        ).fetchone()
    raw.close()
    assert row[:7] == (
        "whoop",
        "sleep",
        "sleep-2026-11-21",
        "2026-11-21",
        "scored",
        "2026-11-21T08:00:00Z",
        "2026-11-21T15:30:00+00:00",
    )
    assert decode_record(DataKind.SLEEP, row[7]) == record


WRITER = """
import sys, anyio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tests.history.records import sleep
from wellpipe.history.local import LocalHistory

async def main() -> None:
    store = await LocalHistory.open(Path(sys.argv[1]))
    offset = int(sys.argv[2])
    for n in range(40):
        day = date(2020, 1, 1) + timedelta(days=offset * 1000 + n)
        await store.put([sleep(day)], now=datetime.now(UTC))
    await store.close()

anyio.run(main)
"""


def test_several_processes_write_the_same_file_at_once(tmp_path: Path) -> None:
    """Claude Desktop starts several stdio servers: none meets "database is locked"."""
    path = tmp_path / FILE_NAME
    root = Path(__file__).parents[2]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(n)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err.decode()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM records").fetchone() == (160,)
    raw.close()


async def test_a_year_reads_in_milliseconds(tmp_path: Path) -> None:
    year = whoop_year(TODAY)
    async with LocalHistory(tmp_path / FILE_NAME) as store:
        await store.put(year, now=NOW)
        window = DayRange(first=date(2025, 11, 22), last=TODAY)
        kinds = [DataKind.SLEEP, DataKind.RECOVERY, DataKind.WORKOUT, DataKind.CYCLE]
        await store.read("whoop", kinds, window)  # warm: validators built
        started = time.perf_counter()
        kept = await store.read("whoop", kinds, window)
        elapsed = time.perf_counter() - started
    assert len(kept.sleeps) + len(kept.recoveries) + len(kept.workouts) + len(kept.cycles) == len(
        year
    )
    assert elapsed < 1.0  # ~40 ms on the development machine (see the report in the README)


async def test_a_store_reopens_after_close(tmp_path: Path) -> None:
    store = await LocalHistory.open(tmp_path / FILE_NAME)
    await store.put([sleep(TODAY)], now=NOW)
    await store.close()
    assert await store.get("whoop", DataKind.SLEEP, "sleep-2026-11-21") == sleep(TODAY)
    await store.close()


_records = st.sampled_from(whoop_year(TODAY, days=30)).flatmap(
    lambda record: st.builds(
        lambda source_id, extras: record.model_copy(
            update={"source_id": source_id, "extras": extras}
        ),
        st.text(min_size=1, max_size=40),
        st.dictionaries(
            st.text(max_size=10),
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            max_size=3,
        ),
    )
)


@given(_records)
def test_encode_and_decode_round_trip(record: Record) -> None:
    assert decode_record(record_kind(record), encode_record(record)) == record


def test_opening_the_store_loads_no_sql_toolkit() -> None:
    """The stdio server opens its store before its first answer: no SQLAlchemy (430 ms)."""
    probe = (
        "import sys, wellpipe.history.local; "
        "print(sorted({'sqlalchemy', 'alembic'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
