"""The async engine and sessions, one code path for SQLite and PostgreSQL.

SQLite has one writer at a time, and a write transaction holds the file's lock from its
first write to its commit. Two rules keep a request from ever meeting "database is
locked" (or waiting ``busy_timeout`` on a lock its own process holds):

* **One writer per process.** `Database.transaction` and `Database.in_thread` take turns
  on one lock, so this process never has two write transactions open at once; other
  processes (workers) wait for the file lock through ``busy_timeout``. A write attempted
  while the same task already holds the turn would wait on itself: it raises at once
  (`NestedWriteError`, a bug to fix) instead.
* **A transaction always ends.** A transaction's block is shielded from cancellation,
  so a request cancelled mid-transaction (a client gone, a sibling task failing) still
  commits or rolls back, releasing the lock, before its connection goes back to the pool.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["Database", "DriverStatement", "NestedWriteError", "rowcount"]

T = TypeVar("T")

_WRITING: ContextVar[frozenset[int]] = ContextVar("wellpipe_db_writing", default=frozenset())
"""The databases whose write turn the current task (or a task it started) holds."""

_ASYNC = "-c synchronous_commit=off"
"""Metering connections: a commit does not wait for the WAL flush (see `run_compiled`)."""


def rowcount(result: Any) -> int:
    """How many rows an ``UPDATE`` or ``DELETE`` touched (``session.execute``'s result)."""
    return cast("CursorResult[Any]", result).rowcount


@dataclass(frozen=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once, for `Database.run_compiled` to run as is.

    Attributes:
        sql: The statement in the driver's parameter style (casts included).
        constants: Values of the binds the statement itself holds (``literal(...)``).
        required: Names of the binds each run must supply.
    """

    sql: str
    constants: Mapping[str, Any]
    required: frozenset[str]

    @classmethod
    def compile(cls, statement: Executable, db: Database) -> DriverStatement:
        """``statement`` as ``db``'s driver runs it."""
        compiled = statement.compile(dialect=db.engine.dialect)  # type: ignore[attr-defined]
        required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
        constants = {k: v for k, v in compiled.params.items() if k not in required}
        return cls(sql=str(compiled), constants=constants, required=required)

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The full parameters of one run.

        Raises:
            ValueError: a required bind is missing.
        """
        missing = self.required - params.keys()
        if missing:
            raise ValueError(f"missing statement parameters: {sorted(missing)}")
        return {**self.constants, **params}


class NestedWriteError(RuntimeError):
    """A write was started while the same task holds this process's SQLite write turn.

    It could only wait on itself (the outer transaction holds the file's lock), so it
    fails at once: finish the outer transaction first, or do the write inside it.
    """


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent writers
    # (several workers) wait their turn instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own BEGIN is deferred (a read that later writes can fail with "database
    # is locked" instead of waiting): `Database.in_thread` issues BEGIN IMMEDIATE itself.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class _DriverPool:
    """psycopg's own pool in autocommit, opened on first use (inside the running event loop)."""

    def __init__(self, url: URL, *, name: str, size: int, durable: bool) -> None:
        given = url.query.get("options")
        startup = [*([given] if isinstance(given, str) else given or ())]
        if not durable:
            startup.append(_ASYNC)
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url.set(drivername="postgresql")
            .difference_update_query(["options"])
            .render_as_string(hide_password=False),
            kwargs={"autocommit": True, "options": " ".join(startup)},
            min_size=1,
            max_size=size,
            max_lifetime=1800,
            open=False,
            name=name,
        )
        self._opened = False
        self._opening = anyio.Lock()

    async def run(self, statement: DriverStatement, params: Mapping[str, Any]) -> Any:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self.pool.open(wait=False)
                    self._opened = True
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                statement.sql, statement.parameters(params), prepare=True
            )
            row = await cursor.fetchone() if cursor.description is not None else None
            return None if row is None else tuple(row)

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False


class Database:
    """An async engine plus a session factory.

    Attributes:
        url: The SQLAlchemy URL (its password never printed by ``repr``).
        engine: The engine.
        sessions: ``async with db.sessions() as session`` for one unit of work.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql":
            if "+" not in parsed.drivername:  # postgresql:// means psycopg here
                parsed = parsed.set(drivername="postgresql+psycopg")
            elif parsed.get_driver_name() != "psycopg":
                raise ValueError(
                    "Wellpipe talks to PostgreSQL through psycopg: write the database URL "
                    "as postgresql+psycopg://user:password@host/database"
                )
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        # Statement parameters hold CSRF tokens and token envelopes: never in logs or errors.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                path = Path(parsed.database)
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # The database holds encrypted tokens and key hashes: owner-only from birth.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            else:
                # Every pooled connection would open its own empty database.
                raise ValueError("SQLite in memory is not supported: give a database file")
            options["connect_args"] = {"timeout": 30}
        else:
            # No pre-ping (a round trip before every statement): a connection found dead
            # fails one statement and SQLAlchemy then replaces every older pooled
            # connection; recycling keeps idle ones from being cut by firewalls.
            options.update(pool_size=pool_size, max_overflow=0, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(parsed, **options)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._threaded: Engine | None = None
        self._writer: anyio.Lock | None = None
        self._metering: _DriverPool | None = None
        self._durable: _DriverPool | None = None
        if self.dialect == "postgresql":  # see `run_compiled`
            self._metering = _DriverPool(
                parsed, name="wellpipe-metering", size=pool_size, durable=False
            )
            self._durable = _DriverPool(
                parsed, name="wellpipe-durable", size=max(2, pool_size // 4), durable=True
            )
        if self.dialect == "sqlite":
            self._writer = anyio.Lock()
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # The same file through the synchronous driver, for `in_thread`.
            self._threaded = create_engine(
                parsed.set(drivername="sqlite+pysqlite"),
                hide_parameters=True,
                echo=echo,
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            event.listen(self._threaded, "connect", _sqlite_pragmas)
            event.listen(self._threaded, "connect", _sqlite_manual_transactions)
            event.listen(self._threaded, "begin", _sqlite_begin_immediate)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (row locks and advisory locks exist)."""
        return self.dialect == "postgresql"

    def insert(self, table: Table | Any) -> Any:
        """A dialect ``INSERT`` that supports ``on_conflict_do_update`` and ``returning``."""
        if self.is_postgres:
            return postgresql.insert(table)
        return sqlite.insert(table)

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (SQLite); nothing to wait for on PostgreSQL.

        Raises:
            NestedWriteError: the current task already holds the turn (see the module).
        """
        if self._writer is None:
            yield
            return
        held = _WRITING.get()
        if id(self) in held:
            raise NestedWriteError(
                "a database write was started inside another write transaction of the same "
                "task; SQLite would wait on itself"
            )
        async with self._writer:
            token = _WRITING.set(held | {id(self)})
            try:
                yield
            finally:
                _WRITING.reset(token)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction, committed on success, rolled back on error.

        On SQLite it runs in this process's write turn (`write_turn`). The block is
        shielded from cancellation: it always ends in a commit or a rollback, and so
        does its hold on the database. Never wait on the network inside it.

        Raises:
            NestedWriteError: called inside another transaction of the same task (SQLite).
        """
        async with self.write_turn():
            # Shielded as a whole: a statement cancelled mid-flight makes SQLAlchemy throw
            # its connection away without a rollback, and on SQLite the file stays locked
            # until that connection is garbage-collected. Transactions hold no network
            # calls, so this delays a cancellation by milliseconds.
            with anyio.CancelScope(shield=True):
                async with self.sessions() as session, session.begin():
                    yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection where each statement commits on its own.

        For work that is one statement (a read, or one atomic upsert): no ``BEGIN`` and
        ``COMMIT`` round trips around it.
        """
        async with self._autocommit.connect() as connection:
            yield connection

    @property
    def threaded(self) -> bool:
        """Whether `in_thread` is available (SQLite)."""
        return self._threaded is not None

    async def in_thread(self, work: Callable[[Connection], T]) -> T:
        """SQLite: ``work`` in one ``BEGIN IMMEDIATE`` transaction, on a worker thread.

        The async SQLite driver hands every call to its own thread and back (a statement
        is three hand-overs); here a whole unit of work of several statements is one.
        It runs in this process's write turn (`write_turn`), like `transaction`; other
        processes are waited for through ``busy_timeout``. The thread always finishes
        its unit (a cancelled caller waits for it). Committed on return, rolled back on
        error.

        Raises:
            RuntimeError: this is not SQLite.
            NestedWriteError: called inside a transaction of the same task.
        """
        engine = self._threaded
        if engine is None:
            raise RuntimeError("in_thread is for SQLite only")

        def run() -> T:
            with engine.begin() as connection:
                return work(connection)

        async with self.write_turn():
            return await anyio.to_thread.run_sync(run)

    async def run_compiled(
        self, statement: DriverStatement, params: Mapping[str, Any], *, durable: bool
    ) -> tuple[Any, ...] | None:
        """PostgreSQL: run one compiled statement; its first row, if it has rows.

        For what every counted request runs, the shortest path there is: psycopg's own
        pool, a prepared statement, autocommit (one statement, one transaction), no
        SQLAlchemy result machinery (the statement's types must be ones psycopg converts
        by itself). That is a third of the CPU time of the same statement through
        SQLAlchemy's async layer (see bench/cloud_rest.py).

        ``durable=False`` is for counters only. Those connections commit asynchronously:
        PostgreSQL reports the commit before the WAL is flushed, so a row lock on a busy
        user's counter is not held across a disk flush. A crash of the database server
        may lose the counts of its last moments (at most three times
        ``wal_writer_delay``, 0.6 s by default) and nothing else: atomicity and the
        exactness of concurrent counting are unchanged, and the database stays
        consistent. Audit rows, tokens and keys are written durably.

        Raises:
            RuntimeError: this is not PostgreSQL.
        """
        pool = self._durable if durable else self._metering
        if pool is None:
            raise RuntimeError("run_compiled is for PostgreSQL only")
        found: tuple[Any, ...] | None = await pool.run(statement, params)
        return found

    async def dispose(self) -> None:
        """Close every pooled connection."""
        for pool in (self._metering, self._durable):
            if pool is not None:
                await pool.close()
        await self.engine.dispose()
        if self._threaded is not None:
            self._threaded.dispose()
