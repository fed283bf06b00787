"""The cloud's history store: each user's records, sealed under the user's own data key.

`UserHistory` implements `wellpipe.core.history.HistoryStore` for one user on the
service's database (SQLite or PostgreSQL), with **envelope encryption**:

* Each user has a random 256-bit **data key**, stored only wrapped by the key ring
  (``history_keys``: a `TokenCipher` envelope bound to the user, naming its ring key so
  ``wellpipe cloud rotate-keys`` re-wraps it without touching a record). It is made on
  the user's first write.
* Every record is sealed with AES-256-GCM under a key derived from it (`DataKey`), with
  associated data binding the user, provider, kind and the record's id digest: a row
  copied to another user, kind or record does not open. What is sealed is the record's
  state and its JSON (`encode_record`): start and end times, scores, ``updated_at``.
* In the clear is only what finding rows needs: user id, provider, kind, local day, and
  an HMAC-SHA256 digest of the record id under a key derived from the data key. Spans
  of covered days are in the clear (dates and a refresh time); sync cursors (provider
  pagination tokens) are sealed like records.
* **Crypto-shredding**: `destroy_data_key` deletes the wrapped key, after which no copy
  of the rows (a backup, a dump, a replica) can be opened or its digests linked to a
  record id; `erase_history` then deletes the rows.

Unwrapped data keys are cached per process for `KEY_CACHE_SECONDS` (at most
`KEY_CACHE_SIZE` users, per database); `destroy_data_key` drops the entry at once, and
other processes' entries expire within that time.

Writes are one transaction each: on SQLite one ``BEGIN IMMEDIATE`` on a worker thread
(`Database.in_thread`), on PostgreSQL one transaction of the pool; upserts are
``INSERT … ON CONFLICT DO UPDATE`` on both, so concurrent writers of the same record
never fail. Span merges of one user take a transaction-scoped advisory lock on
PostgreSQL (SQLite has one writer at a time anyway).
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Table, delete, func, select, text
from sqlalchemy.exc import IntegrityError

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import HistoryCursor, HistoryKey, HistoryRecord, HistorySpan
from wellpipe.cloud.security.crypto import (
    DataKey,
    TokenCipher,
    cursor_associated_data,
    new_data_key,
    record_associated_data,
    unwrap_data_key,
    wrap_data_key,
)
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
from wellpipe.history import cursor_from_json, cursor_to_json

if TYPE_CHECKING:
    from wellpipe.cloud.context import CloudContext

__all__ = [
    "KEY_CACHE_SECONDS",
    "KEY_CACHE_SIZE",
    "HistoryOwnerGoneError",
    "UserHistory",
    "destroy_data_key",
    "erase_history",
    "forget_cached_key",
]

T = TypeVar("T")

KEY_CACHE_SECONDS = 60.0
"""How long an unwrapped data key is kept in memory after it was read."""
KEY_CACHE_SIZE = 1024
"""Users whose unwrapped data key one process keeps, per database."""
SCAN_BATCH = 500
"""Rows `UserHistory.scan` decodes per trip to a worker thread."""
IN_CHUNK = 500
"""Digests per ``IN (…)`` list."""
OFF_LOOP = 64
"""Rows from which opening and decoding moves off the event loop."""

_PG_LOCK_CLASS = 0x57504853  # "WPHS": advisory locks of one user's history spans
_PENDING = b"pending"
_RECORDS = cast("Table", HistoryRecord.__table__)
_SPANS = cast("Table", HistorySpan.__table__)
_CURSORS = cast("Table", HistoryCursor.__table__)
_KEYS = cast("Table", HistoryKey.__table__)


class HistoryOwnerGoneError(WellpipeError):
    """The user whose history was to be written no longer exists (the account is deleted)."""


# ------------------------------------------------------------ the data key cache
class _KeyCache:
    """Unwrapped data keys of recent users (LRU, each entry for `KEY_CACHE_SECONDS`)."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, tuple[float, DataKey]] = OrderedDict()

    def get(self, user_id: str) -> DataKey | None:
        found = self._keys.get(user_id)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._keys[user_id]
            return None
        self._keys.move_to_end(user_id)
        return found[1]

    def put(self, user_id: str, key: DataKey) -> None:
        self._keys[user_id] = (time.monotonic() + KEY_CACHE_SECONDS, key)
        self._keys.move_to_end(user_id)
        while len(self._keys) > KEY_CACHE_SIZE:
            self._keys.popitem(last=False)

    def drop(self, user_id: str) -> None:
        self._keys.pop(user_id, None)


_CACHES: weakref.WeakKeyDictionary[Database, _KeyCache] = weakref.WeakKeyDictionary()


def _cache(db: Database) -> _KeyCache:
    cache = _CACHES.get(db)
    if cache is None:
        cache = _CACHES[db] = _KeyCache()
    return cache


# ------------------------------------------------------------ rows
@dataclass(frozen=True)
class _Sealed:
    """One record ready to store: its clear index, its sealed payload, its plaintext."""

    provider: str
    kind: str
    digest: str
    day: date
    plaintext: bytes
    sealed: bytes

    @property
    def pk(self) -> tuple[str, str, str]:
        return (self.provider, self.kind, self.digest)


def _plaintext(record: Record) -> bytes:
    """What is sealed: the record's state, a newline, its JSON."""
    return record_state(record).encode() + b"\n" + encode_record(record)


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _kinds(kinds: Collection[DataKind]) -> list[str]:
    return sorted({DataKind(kind).value for kind in kinds})


class UserHistory:
    """The `HistoryStore` of one user: every statement is scoped to ``user_id``.

    Each write is its own transaction: do not call it inside `Database.transaction` of
    the same task (on SQLite that is a `NestedWriteError`). The ``now`` of writes is
    taken for the contract only: the cloud keeps no per-record time in the clear.

    Args:
        db: The service's database.
        cipher: The key ring's cipher (wraps and unwraps the user's data key).
        user_id: The account whose history this is.
        now: The clock of key creation times (``datetime.now(UTC)`` by default).
    """

    def __init__(
        self,
        db: Database,
        cipher: TokenCipher,
        user_id: str,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.user_id = user_id
        self._now = now or (lambda: datetime.now(UTC))

    @classmethod
    def of(cls, ctx: CloudContext, user_id: str) -> UserHistory:
        """The history of ``user_id`` in the service of ``ctx``."""
        return cls(ctx.db, ctx.cipher, user_id, now=ctx.clock.now)

    def __repr__(self) -> str:
        return f"UserHistory(user_id={self.user_id!r})"

    # ------------------------------------------------------------ plumbing
    async def _write(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction: committed on return, rolled back on error."""
        if self.db.threaded:
            return await self.db.in_thread(work)
        async with self.db.transaction() as session:
            return await session.run_sync(lambda sync: work(sync.connection()))

    async def _read(self, work: Callable[[Connection], T]) -> T:
        async with self.db.engine.connect() as connection:
            return await connection.run_sync(work)

    async def _key(self, *, create: bool) -> DataKey | None:
        """The user's data key (made and stored on first use if ``create``)."""
        cache = _cache(self.db)
        key = cache.get(self.user_id)
        if key is not None:
            return key
        query = select(_KEYS.c.wrapped).where(_KEYS.c.user_id == self.user_id)
        wrapped = await self._read(lambda c: c.execute(query).scalar_one_or_none())
        if wrapped is None:
            if not create:
                return None
            fresh = wrap_data_key(self.cipher, self.user_id, new_data_key())
            row = {
                "user_id": self.user_id,
                "key_id": self.cipher.primary_key_id,
                "wrapped": fresh,
                "created_at": self._now(),
            }
            statement = (
                self.db.insert(_KEYS).values(row).on_conflict_do_nothing(index_elements=["user_id"])
            )
            try:
                await self._write(lambda c: c.execute(statement))
            except IntegrityError:
                raise HistoryOwnerGoneError(
                    "The account this history belongs to is deleted."
                ) from None
            wrapped = await self._read(lambda c: c.execute(query).scalar_one_or_none())
            if wrapped is None:  # deleted between the two statements
                raise HistoryOwnerGoneError("The account this history belongs to is deleted.")
        key = DataKey(unwrap_data_key(self.cipher, self.user_id, wrapped))
        cache.put(self.user_id, key)
        return key

    def _seal(self, key: DataKey, records: Iterable[Record]) -> list[_Sealed]:
        """Records sealed for storage, one per primary key (the last one given wins)."""
        found: dict[tuple[str, str, str], _Sealed] = {}
        for record in records:
            kind = record_kind(record).value
            digest = key.id_digest(record.provider, kind, record.source_id)
            plaintext = _plaintext(record)
            aad = record_associated_data(self.user_id, record.provider, kind, digest)
            row = _Sealed(
                record.provider, kind, digest, record.day, plaintext, key.seal(plaintext, aad)
            )
            found[row.pk] = row
        return list(found.values())

    def _open(self, key: DataKey, provider: str, kind: str, digest: str, sealed: bytes) -> bytes:
        """A row's plaintext (state, newline, JSON)."""
        return key.open(sealed, record_associated_data(self.user_id, provider, kind, digest))

    def _decode(self, key: DataKey, rows: Sequence[Any]) -> list[Record]:
        """Rows of (provider, kind, id_digest, sealed) opened and decoded."""
        records = []
        for provider, kind, digest, sealed in rows:
            _state, _, payload = self._open(key, provider, kind, digest, sealed).partition(b"\n")
            records.append(decode_record(DataKind(kind), payload))
        return records

    async def _decode_off_loop(self, key: DataKey, rows: Sequence[Any]) -> list[Record]:
        if len(rows) < OFF_LOOP:
            return self._decode(key, rows)
        return await anyio.to_thread.run_sync(self._decode, key, rows)

    def _where(self, provider: str) -> Any:
        return (_RECORDS.c.user_id == self.user_id) & (_RECORDS.c.provider == provider)

    # ------------------------------------------------------------ writes (worker side)
    def _put_rows(self, connection: Connection, key: DataKey, rows: Sequence[_Sealed]) -> int:
        """Upsert the rows that are new or differ from what is kept; how many that was."""
        existing: dict[tuple[str, str, str], tuple[date, bytes]] = {}
        groups: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            groups.setdefault((row.provider, row.kind), []).append(row.digest)
        for (provider, kind), digests in groups.items():
            for chunk in _chunks(digests):
                for digest, day, sealed in connection.execute(
                    select(_RECORDS.c.id_digest, _RECORDS.c.day, _RECORDS.c.sealed).where(
                        self._where(provider),
                        _RECORDS.c.kind == kind,
                        _RECORDS.c.id_digest.in_(chunk),
                    )
                ):
                    existing[(provider, kind, digest)] = (day, sealed)
        changed: list[_Sealed] = []
        for row in rows:
            kept = existing.get(row.pk)
            if kept is not None and kept[0] == row.day:
                try:
                    if self._open(key, *row.pk, kept[1]) == row.plaintext:
                        continue
                except WellpipeError:
                    pass  # unreadable: overwrite it
            changed.append(row)
        if changed:
            statement = self.db.insert(_RECORDS)
            statement = statement.on_conflict_do_update(
                index_elements=["user_id", "provider", "kind", "id_digest"],
                set_={"day": statement.excluded.day, "sealed": statement.excluded.sealed},
            )
            connection.execute(
                statement,
                [
                    {
                        "user_id": self.user_id,
                        "provider": row.provider,
                        "kind": row.kind,
                        "id_digest": row.digest,
                        "day": row.day,
                        "sealed": row.sealed,
                    }
                    for row in changed
                ],
            )
        return len(changed)

    def _lock_spans(self, connection: Connection) -> None:
        """Serialize span merges of this user (PostgreSQL; SQLite writes one at a time)."""
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:class, hashtext(:user))"),
                {"class": _PG_LOCK_CLASS, "user": self.user_id},
            )

    def _cover(
        self, connection: Connection, provider: str, kind: str, days: DayRange, now: datetime
    ) -> None:
        """Merge ``days`` into the kind's spans (inside the caller's transaction)."""
        mine = (
            (_SPANS.c.user_id == self.user_id)
            & (_SPANS.c.provider == provider)
            & (_SPANS.c.kind == kind)
        )
        spans = [
            Span(first, last, refreshed)
            for first, last, refreshed in connection.execute(
                select(_SPANS.c.first, _SPANS.c.last, _SPANS.c.refreshed_at).where(mine)
            )
        ]
        spans.append(Span(days.first, days.last, now))
        connection.execute(delete(_SPANS).where(mine))
        connection.execute(
            _SPANS.insert(),
            [
                {
                    "user_id": self.user_id,
                    "provider": provider,
                    "kind": kind,
                    "first": span.first,
                    "last": span.last,
                    "refreshed_at": span.refreshed_at,
                }
                for span in merge_spans(spans)
            ],
        )

    def _save_cursor(
        self, connection: Connection, provider: str, stream: str, sealed: bytes
    ) -> None:
        statement = self.db.insert(_CURSORS).values(
            user_id=self.user_id, provider=provider, stream=stream, sealed=sealed
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "provider", "stream"],
                set_={"sealed": statement.excluded.sealed},
            )
        )

    # ------------------------------------------------------------ writes
    async def put(self, records: Sequence[Record], *, now: datetime) -> int:
        """Insert or replace records by (provider, kind, source id); how many changed."""
        if not records:
            return 0
        key = await self._key(create=True)
        assert key is not None
        rows = self._seal(key, records)
        return await self._write(lambda connection: self._put_rows(connection, key, rows))

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
        key = await self._key(create=True)
        assert key is not None
        rows = self._seal(key, records)
        kept = {(row.kind, row.digest) for row in rows}
        wanted = _kinds(kinds)

        def work(connection: Connection) -> int:
            self._lock_spans(connection)
            changed = 0
            if wanted:
                found = connection.execute(
                    select(_RECORDS.c.kind, _RECORDS.c.id_digest).where(
                        self._where(provider),
                        _RECORDS.c.kind.in_(wanted),
                        _RECORDS.c.day.between(days.first, days.last),
                    )
                ).all()
                gone: dict[str, list[str]] = {}
                for kind, digest in found:
                    if (kind, digest) not in kept:
                        gone.setdefault(kind, []).append(digest)
                for kind, digests in gone.items():
                    for chunk in _chunks(digests):
                        connection.execute(
                            delete(_RECORDS).where(
                                self._where(provider),
                                _RECORDS.c.kind == kind,
                                _RECORDS.c.id_digest.in_(chunk),
                            )
                        )
                    changed += len(digests)
            changed += self._put_rows(connection, key, rows)
            for kind in wanted:
                self._cover(connection, provider, kind, days, now)
            return changed

        return await self._write(work)

    async def remove(self, provider: str, kind: DataKind, source_id: str) -> bool:
        """Delete one record (a provider's delete event); whether it was kept."""
        key = await self._key(create=False)
        if key is None:
            return False
        kind = DataKind(kind)
        digest = key.id_digest(provider, kind.value, source_id)
        statement = delete(_RECORDS).where(
            self._where(provider), _RECORDS.c.kind == kind.value, _RECORDS.c.id_digest == digest
        )
        return await self._write(lambda c: c.execute(statement).rowcount > 0)

    async def cover(
        self, provider: str, kinds: Collection[DataKind], days: DayRange, *, now: datetime
    ) -> None:
        """Record that ``days`` of ``kinds`` were read in full ``now`` (spans merge)."""
        wanted = _kinds(kinds)
        if not wanted:
            return

        def work(connection: Connection) -> None:
            self._lock_spans(connection)
            for kind in wanted:
                self._cover(connection, provider, kind, days, now)

        await self._write(work)

    async def save_page(
        self,
        provider: str,
        records: Sequence[Record],
        cursor: SyncCursor,
        *,
        now: datetime,
    ) -> None:
        """Put one backfill page's records and its stream's cursor (sealed), atomically.

        Raises:
            ValueError: a record is of another provider.
        """
        check_provider(provider, records)
        key = await self._key(create=True)
        assert key is not None
        rows = self._seal(key, records)
        sealed_cursor = key.seal(
            cursor_to_json(cursor), cursor_associated_data(self.user_id, provider, cursor.stream)
        )

        def work(connection: Connection) -> None:
            self._put_rows(connection, key, rows)
            self._save_cursor(connection, provider, cursor.stream, sealed_cursor)

        await self._write(work)

    async def forget(self, provider: str) -> int:
        """Delete everything kept of one provider (disconnect); how many records."""

        def work(connection: Connection) -> int:
            count = connection.execute(delete(_RECORDS).where(self._where(provider))).rowcount
            for table in (_SPANS, _CURSORS):
                connection.execute(
                    delete(table).where(
                        table.c.user_id == self.user_id, table.c.provider == provider
                    )
                )
            return count

        return await self._write(work)

    # ------------------------------------------------------------ reads
    async def get(self, provider: str, kind: DataKind, source_id: str) -> Record | None:
        """One kept record, or ``None``."""
        key = await self._key(create=False)
        if key is None:
            return None
        kind = DataKind(kind)
        digest = key.id_digest(provider, kind.value, source_id)
        query = select(_RECORDS.c.sealed).where(
            self._where(provider), _RECORDS.c.kind == kind.value, _RECORDS.c.id_digest == digest
        )
        sealed = await self._read(lambda c: c.execute(query).scalar_one_or_none())
        if sealed is None:
            return None
        return self._decode(key, [(provider, kind.value, digest, sealed)])[0]

    async def read(self, provider: str, kinds: Collection[DataKind], days: DayRange) -> RecordSet:
        """Every kept record of ``kinds`` whose local day is in ``days``, newest first."""
        wanted = _kinds(kinds)
        key = await self._key(create=False)
        if key is None or not wanted:
            return record_set(())
        query = select(
            _RECORDS.c.provider, _RECORDS.c.kind, _RECORDS.c.id_digest, _RECORDS.c.sealed
        ).where(
            self._where(provider),
            _RECORDS.c.kind.in_(wanted),
            _RECORDS.c.day.between(days.first, days.last),
        )
        rows = await self._read(lambda c: c.execute(query).all())
        if len(rows) < OFF_LOOP:
            return record_set(self._decode(key, rows))
        return await anyio.to_thread.run_sync(lambda: record_set(self._decode(key, rows)))

    async def scan(
        self,
        provider: str | None = None,
        kinds: Collection[DataKind] | None = None,
        since: date | None = None,
    ) -> AsyncIterator[Record]:
        """Every kept record, by provider, kind and day, never all in memory (export).

        Optionally of one provider, some kinds, from a day on.
        """
        key = await self._key(create=False)
        if key is None:
            return
        query = select(
            _RECORDS.c.provider, _RECORDS.c.kind, _RECORDS.c.id_digest, _RECORDS.c.sealed
        ).where(_RECORDS.c.user_id == self.user_id)
        if provider is not None:
            query = query.where(_RECORDS.c.provider == provider)
        if kinds is not None:
            wanted = _kinds(kinds)
            if not wanted:
                return
            query = query.where(_RECORDS.c.kind.in_(wanted))
        if since is not None:
            query = query.where(_RECORDS.c.day >= since)
        query = query.order_by(
            _RECORDS.c.provider, _RECORDS.c.kind, _RECORDS.c.day, _RECORDS.c.id_digest
        )
        async with self.db.engine.connect() as connection:
            result = await connection.stream(query.execution_options(yield_per=SCAN_BATCH))
            try:
                async for batch in result.partitions(SCAN_BATCH):
                    for record in await self._decode_off_loop(key, batch):
                        yield record
            finally:  # a scan left early: close its (server-side) cursor first
                with anyio.CancelScope(shield=True):
                    await result.close()

    async def coverage(self, provider: str) -> Coverage:
        """The spans, counts and backfill cursors of one provider."""
        spans_query = (
            select(_SPANS.c.kind, _SPANS.c.first, _SPANS.c.last, _SPANS.c.refreshed_at)
            .where(_SPANS.c.user_id == self.user_id, _SPANS.c.provider == provider)
            .order_by(_SPANS.c.kind, _SPANS.c.first)
        )
        counts_query = (
            select(_RECORDS.c.kind, func.count())
            .where(self._where(provider))
            .group_by(_RECORDS.c.kind)
        )
        cursors_query = (
            select(_CURSORS.c.stream, _CURSORS.c.sealed)
            .where(_CURSORS.c.user_id == self.user_id, _CURSORS.c.provider == provider)
            .order_by(_CURSORS.c.stream)
        )

        def work(connection: Connection) -> tuple[list[Any], list[Any], list[Any]]:
            return (
                list(connection.execute(spans_query)),
                list(connection.execute(counts_query)),
                list(connection.execute(cursors_query)),
            )

        span_rows, count_rows, cursor_rows = await self._read(work)
        spans: dict[DataKind, list[Span]] = {}
        for kind, first, last, refreshed in span_rows:
            spans.setdefault(DataKind(kind), []).append(Span(first, last, refreshed))
        backfill: dict[str, SyncCursor] = {}
        if cursor_rows:
            key = await self._key(create=False)
            for stream, sealed in cursor_rows:
                if key is None:
                    break
                cursor = cursor_from_json(
                    key.open(sealed, cursor_associated_data(self.user_id, provider, stream))
                )
                if not cursor.done:
                    backfill[cursor.stream] = cursor
        return Coverage(
            provider=provider,
            spans={kind: tuple(found) for kind, found in spans.items()},
            counts={DataKind(kind): int(count) for kind, count in count_rows},
            backfill=backfill,
        )

    async def unsettled_days(
        self, provider: str, kinds: Collection[DataKind], since: date
    ) -> tuple[date, ...]:
        """Days from ``since`` on holding a record that may still change, oldest first.

        A record may still change while the provider has not scored it (``pending``).
        States are sealed, so the rows from ``since`` on are opened to read theirs.
        """
        wanted = _kinds(kinds)
        key = await self._key(create=False)
        if key is None or not wanted:
            return ()
        query = select(
            _RECORDS.c.day, _RECORDS.c.kind, _RECORDS.c.id_digest, _RECORDS.c.sealed
        ).where(self._where(provider), _RECORDS.c.kind.in_(wanted), _RECORDS.c.day >= since)
        rows = await self._read(lambda c: c.execute(query).all())

        def pending_days() -> tuple[date, ...]:
            days = {
                day
                for day, kind, digest, sealed in rows
                if self._open(key, provider, kind, digest, sealed).partition(b"\n")[0] == _PENDING
            }
            return tuple(sorted(days))

        if len(rows) < OFF_LOOP:
            return pending_days()
        return await anyio.to_thread.run_sync(pending_days)


# ------------------------------------------------------------ account deletion
def forget_cached_key(db: Database, user_id: str) -> None:
    """Drop this process's unwrapped copy of the user's data key (if it holds one)."""
    _cache(db).drop(user_id)


async def destroy_data_key(db: Database, user_id: str) -> bool:
    """Delete the user's wrapped data key (crypto-shredding), committed on its own.

    From then on nothing sealed under it opens anywhere (backups included), and its id
    digests cannot be linked to record ids. This process's cached copy is dropped too.

    Returns:
        Whether there was a key to destroy.
    """
    _cache(db).drop(user_id)
    statement = delete(_KEYS).where(_KEYS.c.user_id == user_id)
    if db.threaded:
        gone = await db.in_thread(lambda c: c.execute(statement).rowcount)
    else:
        async with db.transaction() as session:
            gone = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
    _cache(db).drop(user_id)
    return bool(gone)


async def erase_history(db: Database, user_id: str) -> int:
    """Delete the user's kept records, spans and cursors, in one transaction.

    Returns:
        How many records were deleted.
    """

    def work(connection: Connection) -> int:
        count = connection.execute(delete(_RECORDS).where(_RECORDS.c.user_id == user_id)).rowcount
        for table in (_SPANS, _CURSORS):
            connection.execute(delete(table).where(table.c.user_id == user_id))
        return count

    if db.threaded:
        return await db.in_thread(work)
    async with db.transaction() as session:
        return await session.run_sync(lambda sync: work(sync.connection()))
