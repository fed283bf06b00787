"""The self-hosted history store: one SQLite file in the Wellpipe home, owner-only.

`LocalHistory` implements `wellpipe.core.history.HistoryStore` on the stdlib ``sqlite3``
module (the stdio server's first answer must not pay for SQLAlchemy's import):

* **One file**, ``history.sqlite3`` in the Wellpipe home (`history_path`), created
  0600 before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the
  database file's mode.
* **Several processes at once.** Claude Desktop starts several stdio servers: the file
  is in WAL mode (readers never wait for the writer), every write transaction is
  ``BEGIN IMMEDIATE`` (it takes the write lock before it reads, so it never fails half
  way with "database is locked"), and ``busy_timeout`` makes writers of other processes
  wait their turn.
* **Off the event loop.** Each call runs on a worker thread (`anyio.to_thread`), on
  the store's one connection, one call at a time. `LocalHistory.scan` reads through its
  own connection, in batches, inside one read transaction (a consistent snapshot).
* **A schema version** (``PRAGMA user_version``): opening the file migrates it to
  `SCHEMA_VERSION`; a file written by a newer Wellpipe is refused, not damaged.

Tables:

* ``records``: one row per (provider, kind, source id): the local ``day`` (ISO), the
  record's ``state`` (`record_state`), the provider's ``updated_at`` (when the record
  carries one), ``synced_at`` (when it was last stored) and the ``payload``
  (`encode_record`). Indexed by (provider, kind, day).
* ``spans``: the day spans read in full, per provider and kind, kept merged
  (`merge_spans`).
* ``cursors``: each stream's backfill `SyncCursor`, written with its page.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from wellpipe.core.errors import WellpipeError
from wellpipe.core.history import (
    Coverage,
    Span,
    SyncCursor,
    check_provider,
    decode_record,
    encode_record,
    merge_spans,
    record_kind,
    record_set,
    record_state,
)
from wellpipe.core.models import DataKind, DayRange, Record, RecordSet
from wellpipe.history import cursor_from_json, cursor_to_json, record_updated_at

__all__ = [
    "FILE_NAME",
    "SCHEMA_VERSION",
    "HistoryFileError",
    "LocalHistory",
    "history_path",
]

T = TypeVar("T")

FILE_NAME = "history.sqlite3"
"""The store's file name in the Wellpipe home."""

SCHEMA_VERSION = 1
"""The schema this module writes (``PRAGMA user_version``)."""

BUSY_TIMEOUT_MS = 30_000
"""How long a write waits for another process's write to finish."""

SCAN_BATCH = 500
"""Rows `LocalHistory.scan` reads per trip to its thread."""

PENDING = "pending"

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE records (
        provider   TEXT NOT NULL,
        kind       TEXT NOT NULL,
        source_id  TEXT NOT NULL,
        day        TEXT NOT NULL,
        state      TEXT NOT NULL,
        updated_at TEXT,
        synced_at  TEXT NOT NULL,
        payload    BLOB NOT NULL,
        PRIMARY KEY (provider, kind, source_id)
    ) WITHOUT ROWID;
    CREATE INDEX records_by_day ON records (provider, kind, day);
    CREATE INDEX records_pending ON records (provider, kind, day) WHERE state = 'pending';
    CREATE TABLE spans (
        provider     TEXT NOT NULL,
        kind         TEXT NOT NULL,
        first        TEXT NOT NULL,
        last         TEXT NOT NULL,
        refreshed_at TEXT NOT NULL,
        PRIMARY KEY (provider, kind, first)
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
        provider TEXT NOT NULL,
        stream   TEXT NOT NULL,
        cursor   TEXT NOT NULL,
        PRIMARY KEY (provider, stream)
    ) WITHOUT ROWID;
    """,
}
"""Each schema version's statements, from the one before it."""


class HistoryFileError(WellpipeError):
    """The history file cannot be used (written by a newer Wellpipe, or not a database)."""


def history_path(home: Path) -> Path:
    """The history file in the Wellpipe home ``home`` (the CLI's ``LocalPaths.home``)."""
    return home / FILE_NAME


def _instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; pass an aware instant")
    return value.astimezone(UTC).isoformat()


def _marks(count: int) -> str:
    return ",".join("?" * count)


class LocalHistory:
    """The self-hosted `HistoryStore`: every record of this home's person, in one file.

    Open it with `LocalHistory.open` (or ``async with LocalHistory(path)``); close it
    with `close`. Each call runs on a worker thread; calls of one store take turns.
    """

    def __init__(self, path: Path) -> None:
        """A store on ``path`` (opened lazily; see `open`)."""
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    # ------------------------------------------------------------ life cycle
    @classmethod
    async def open(cls, path: Path) -> LocalHistory:
        """The store on ``path``: the file created (0600) and migrated if needed.

        Raises:
            HistoryFileError: the file is from a newer Wellpipe, or not a database.
            OSError: the folder cannot be created or written.
        """
        store = cls(path)
        await store._run(lambda _connection: None)
        return store

    @classmethod
    async def in_home(cls, home: Path) -> LocalHistory:
        """The store in the Wellpipe home ``home`` (`history_path`)."""
        return await cls.open(history_path(home))

    async def __aenter__(self) -> LocalHistory:
        await self._run(lambda _connection: None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store's connection (a later call opens it again)."""

        def close() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None

        await anyio.to_thread.run_sync(close)

    def _connect(self) -> sqlite3.Connection:
        """A connection to the file, created 0600 and migrated (on a worker thread)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Owner-only from birth: SQLite would create it with the umask's mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are this module's own BEGIN IMMEDIATE
            check_same_thread=False,  # worker threads take turns under the store's lock
        )
        try:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            _migrate(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise HistoryFileError(
                f"{self.path} is not a Wellpipe history file ({error}); move it away and run "
                "`wellpipe sync` to rebuild it"
            ) from None
        except BaseException:
            connection.close()
            raise
        return connection

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the store's connection, on a worker thread, one call at a time."""

        def run() -> T:
            with self._lock:
                if self._connection is None:
                    self._connection = self._connect()
                return work(self._connection)

        return await anyio.to_thread.run_sync(run)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one ``BEGIN IMMEDIATE`` transaction: committed, or rolled back."""

        def run(connection: sqlite3.Connection) -> T:
            with _immediate(connection):
                return work(connection)

        return await self._run(run)

    # ------------------------------------------------------------ writes
    async def put(self, records: Sequence[Record], *, now: datetime) -> int:
        """Insert or replace records by (provider, kind, source id); how many changed."""
        if not records:
            return 0
        rows = [_row(record, now) for record in records]
        return await self._write(lambda connection: _put(connection, rows))

    async def replace(
        self,
        provider: str,
        kinds: Collection[DataKind],
        days: DayRange,
        records: Sequence[Record],
        *,
        now: datetime,
    ) -> int:
        """Make ``days`` of ``kinds`` exactly ``records`` (a full re-read of those days).

        Records of those kinds kept for those days and absent from ``records`` are
        deleted; ``records`` are put; the days become covered, refreshed ``now``. One
        transaction. Returns how many rows changed (put or deleted).

        Raises:
            ValueError: a record is of another provider.
        """
        check_provider(provider, records)
        rows = [_row(record, now) for record in records]
        kept = {(row[1], row[2]) for row in rows}
        wanted = sorted({DataKind(kind).value for kind in kinds})
        refreshed = _instant(now)

        def work(connection: sqlite3.Connection) -> int:
            changed = 0
            if wanted:
                found = connection.execute(
                    f"SELECT kind, source_id FROM records WHERE provider = ? "
                    f"AND kind IN ({_marks(len(wanted))}) AND day BETWEEN ? AND ?",
                    (provider, *wanted, days.first.isoformat(), days.last.isoformat()),
                ).fetchall()
                gone = [(provider, kind, sid) for kind, sid in found if (kind, sid) not in kept]
                connection.executemany(
                    "DELETE FROM records WHERE provider = ? AND kind = ? AND source_id = ?", gone
                )
                changed += len(gone)
            changed += _put(connection, rows)
            for kind in wanted:
                _cover(connection, provider, kind, days, refreshed)
            return changed

        return await self._write(work)

    async def remove(self, provider: str, kind: DataKind, source_id: str) -> bool:
        """Delete one record (a provider's delete event); whether it was kept."""

        def work(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM records WHERE provider = ? AND kind = ? AND source_id = ?",
                (provider, DataKind(kind).value, source_id),
            )
            return cursor.rowcount > 0

        return await self._write(work)

    async def cover(
        self, provider: str, kinds: Collection[DataKind], days: DayRange, *, now: datetime
    ) -> None:
        """Record that ``days`` of ``kinds`` were read in full ``now`` (spans merge)."""
        refreshed = _instant(now)
        wanted = sorted({DataKind(kind).value for kind in kinds})

        def work(connection: sqlite3.Connection) -> None:
            for kind in wanted:
                _cover(connection, provider, kind, days, refreshed)

        await self._write(work)

    async def save_page(
        self,
        provider: str,
        records: Sequence[Record],
        cursor: SyncCursor,
        *,
        now: datetime,
    ) -> None:
        """Put one backfill page's records and its stream's cursor, atomically.

        Raises:
            ValueError: a record is of another provider.
        """
        check_provider(provider, records)
        rows = [_row(record, now) for record in records]
        document = cursor_to_json(cursor).decode()

        def work(connection: sqlite3.Connection) -> None:
            _put(connection, rows)
            self._save_cursor(connection, provider, cursor.stream, document)

        await self._write(work)

    def _save_cursor(
        self, connection: sqlite3.Connection, provider: str, stream: str, document: str
    ) -> None:
        connection.execute(
            "INSERT INTO cursors (provider, stream, cursor) VALUES (?, ?, ?) "
            "ON CONFLICT (provider, stream) DO UPDATE SET cursor = excluded.cursor",
            (provider, stream, document),
        )

    async def forget(self, provider: str) -> int:
        """Delete everything kept of one provider (disconnect); how many records."""

        def work(connection: sqlite3.Connection) -> int:
            count = connection.execute("DELETE FROM records WHERE provider = ?", (provider,))
            connection.execute("DELETE FROM spans WHERE provider = ?", (provider,))
            connection.execute("DELETE FROM cursors WHERE provider = ?", (provider,))
            return count.rowcount

        return await self._write(work)

    # ------------------------------------------------------------ reads
    async def get(self, provider: str, kind: DataKind, source_id: str) -> Record | None:
        """One kept record, or ``None``."""
        kind = DataKind(kind)

        def work(connection: sqlite3.Connection) -> Record | None:
            row = connection.execute(
                "SELECT payload FROM records WHERE provider = ? AND kind = ? AND source_id = ?",
                (provider, kind.value, source_id),
            ).fetchone()
            return None if row is None else decode_record(kind, row[0])

        return await self._run(work)

    async def read(self, provider: str, kinds: Collection[DataKind], days: DayRange) -> RecordSet:
        """Every kept record of ``kinds`` whose local day is in ``days``, newest first."""
        wanted = sorted({DataKind(kind).value for kind in kinds})
        if not wanted:
            return record_set(())

        def work(connection: sqlite3.Connection) -> RecordSet:
            rows = connection.execute(
                f"SELECT kind, payload FROM records WHERE provider = ? "
                f"AND kind IN ({_marks(len(wanted))}) AND day BETWEEN ? AND ?",
                (provider, *wanted, days.first.isoformat(), days.last.isoformat()),
            ).fetchall()
            return record_set(decode_record(DataKind(kind), payload) for kind, payload in rows)

        return await self._run(work)

    async def scan(
        self,
        provider: str | None = None,
        kinds: Collection[DataKind] | None = None,
        since: date | None = None,
    ) -> AsyncIterator[Record]:
        """Every kept record, by provider, kind and day, never all in memory (export).

        Optionally of one provider, some kinds, from a day on. The scan reads one
        snapshot: writes made while it runs are not in it.
        """
        where: list[str] = []
        params: list[Any] = []
        if provider is not None:
            where.append("provider = ?")
            params.append(provider)
        if kinds is not None:
            wanted = sorted({DataKind(kind).value for kind in kinds})
            if not wanted:
                return
            where.append(f"kind IN ({_marks(len(wanted))})")
            params.extend(wanted)
        if since is not None:
            where.append("day >= ?")
            params.append(since.isoformat())
        sql = "SELECT kind, payload FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY provider, kind, day, source_id"

        await self._run(lambda _connection: None)  # create and migrate the file first
        reader = _Reader(self.path, sql, params)
        try:
            while True:
                batch = await anyio.to_thread.run_sync(reader.next_batch)
                if not batch:
                    return
                for record in batch:
                    yield record
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(reader.close)

    async def coverage(self, provider: str) -> Coverage:
        """The spans, counts and backfill cursors of one provider."""

        def work(connection: sqlite3.Connection) -> Coverage:
            spans: dict[DataKind, list[Span]] = {}
            for kind, first, last, refreshed in connection.execute(
                "SELECT kind, first, last, refreshed_at FROM spans WHERE provider = ? "
                "ORDER BY kind, first",
                (provider,),
            ):
                spans.setdefault(DataKind(kind), []).append(
                    Span(
                        date.fromisoformat(first),
                        date.fromisoformat(last),
                        datetime.fromisoformat(refreshed),
                    )
                )
            counts = {
                DataKind(kind): count
                for kind, count in connection.execute(
                    "SELECT kind, COUNT(*) FROM records WHERE provider = ? GROUP BY kind",
                    (provider,),
                )
            }
            backfill: dict[str, SyncCursor] = {}
            for (document,) in connection.execute(
                "SELECT cursor FROM cursors WHERE provider = ? ORDER BY stream", (provider,)
            ):
                cursor = cursor_from_json(document)
                if not cursor.done:
                    backfill[cursor.stream] = cursor
            return Coverage(
                provider=provider,
                spans={kind: tuple(found) for kind, found in spans.items()},
                counts=counts,
                backfill=backfill,
            )

        return await self._run(work)

    async def unsettled_days(
        self, provider: str, kinds: Collection[DataKind], since: date
    ) -> tuple[date, ...]:
        """Days from ``since`` on holding a record that may still change, oldest first.

        A record may still change while the provider has not scored it (``pending``).
        """
        wanted = sorted({DataKind(kind).value for kind in kinds})
        if not wanted:
            return ()

        def work(connection: sqlite3.Connection) -> tuple[date, ...]:
            rows = connection.execute(
                f"SELECT DISTINCT day FROM records WHERE provider = ? "
                f"AND kind IN ({_marks(len(wanted))}) AND day >= ? AND state = '{PENDING}' "
                "ORDER BY day",
                (provider, *wanted, since.isoformat()),
            ).fetchall()
            return tuple(date.fromisoformat(day) for (day,) in rows)

        return await self._run(work)

    def __repr__(self) -> str:
        return f"LocalHistory({str(self.path)!r})"


# ------------------------------------------------------------ helpers (worker threads)
_Row = tuple[str, str, str, str, str, str | None, str, bytes]
"""provider, kind, source_id, day, state, updated_at, synced_at, payload."""


def _row(record: Record, now: datetime) -> _Row:
    return (
        record.provider,
        record_kind(record).value,
        record.source_id,
        record.day.isoformat(),
        record_state(record),
        record_updated_at(record),
        _instant(now),
        encode_record(record),
    )


def _put(connection: sqlite3.Connection, rows: Sequence[_Row]) -> int:
    """Upsert ``rows``; how many were new or different (all get the new ``synced_at``)."""
    changed = 0
    for row in rows:
        found = connection.execute(
            "SELECT day, payload FROM records WHERE provider = ? AND kind = ? AND source_id = ?",
            row[:3],
        ).fetchone()
        if found is None or found[0] != row[3] or bytes(found[1]) != row[7]:
            changed += 1
    connection.executemany(
        "INSERT INTO records (provider, kind, source_id, day, state, updated_at, synced_at, "
        "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (provider, kind, source_id) DO UPDATE SET day = excluded.day, "
        "state = excluded.state, updated_at = excluded.updated_at, "
        "synced_at = excluded.synced_at, payload = excluded.payload",
        rows,
    )
    return changed


def _cover(
    connection: sqlite3.Connection, provider: str, kind: str, days: DayRange, refreshed: str
) -> None:
    """Merge ``days`` into the kind's spans (inside the caller's transaction)."""
    spans = [
        Span(date.fromisoformat(first), date.fromisoformat(last), datetime.fromisoformat(at))
        for first, last, at in connection.execute(
            "SELECT first, last, refreshed_at FROM spans WHERE provider = ? AND kind = ?",
            (provider, kind),
        )
    ]
    spans.append(Span(days.first, days.last, datetime.fromisoformat(refreshed)))
    connection.execute("DELETE FROM spans WHERE provider = ? AND kind = ?", (provider, kind))
    connection.executemany(
        "INSERT INTO spans (provider, kind, first, last, refreshed_at) VALUES (?, ?, ?, ?, ?)",
        [
            (provider, kind, s.first.isoformat(), s.last.isoformat(), _instant(s.refreshed_at))
            for s in merge_spans(spans)
        ],
    )


@contextlib.contextmanager
def _immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, its lock taken up front (other processes wait, never fail)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to `SCHEMA_VERSION` (several processes may open it at once)."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    with _immediate(connection):
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise HistoryFileError(
                f"the history file is at schema version {version}, newer than this Wellpipe "
                f"reads ({SCHEMA_VERSION}); upgrade Wellpipe"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step].split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class _Reader:
    """One scan's own connection and read transaction, read in batches on worker threads."""

    def __init__(self, path: Path, sql: str, params: Sequence[Any]) -> None:
        self._path = path
        self._sql = sql
        self._params = params
        self._connection: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None

    def next_batch(self) -> list[Record]:
        if self._cursor is None:
            self._connection = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._connection.execute("BEGIN")  # one snapshot for the whole scan
            self._cursor = self._connection.execute(self._sql, self._params)
        rows = self._cursor.fetchmany(SCAN_BATCH)
        return [decode_record(DataKind(kind), payload) for kind, payload in rows]

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None
            self._cursor = None
