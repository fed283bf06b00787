"""The async engine and sessions, one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


@dataclass(frozen=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once, for `Database.fetch_first` to run as is.

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


__all__ = ["Database", "DriverStatement"]


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
        self._thread_lock = anyio.CapacityLimiter(1)
        self._driver_pool: AsyncConnectionPool[Any] | None = None
        self._driver_opened = False
        self._driver_opening = anyio.Lock()
        if self.dialect == "postgresql":
            # The metering statement of every request runs here, on psycopg's own pool in
            # autocommit: a third of the CPU time of the same statement through
            # SQLAlchemy's async layer (bench/cloud_rest.py; see `fetch_first`).
            self._driver_pool = AsyncConnectionPool(
                parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                kwargs={"autocommit": True},
                min_size=1,
                max_size=pool_size,
                max_lifetime=1800,
                open=False,
                name="wellpipe-metering",
            )
        if self.dialect == "sqlite":
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
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction, committed on success, rolled back on error."""
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
        Units run one at a time in this process (SQLite has one writer anyway, and a
        writer waiting on the file lock sleeps in milliseconds); other processes are
        waited for through ``busy_timeout``. Committed on return, rolled back on error.

        Raises:
            RuntimeError: this is not SQLite.
        """
        engine = self._threaded
        if engine is None:
            raise RuntimeError("in_thread is for SQLite only")

        def run() -> T:
            with engine.begin() as connection:
                return work(connection)

        return await anyio.to_thread.run_sync(run, limiter=self._thread_lock)

    async def fetch_first(
        self, statement: DriverStatement, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """PostgreSQL: run one compiled statement in autocommit; its first row, if any.

        For the one statement every counted request runs: psycopg's pool and a prepared
        statement, without SQLAlchemy's result machinery (and its type processing: the
        statement's types must be ones psycopg converts by itself).

        Raises:
            RuntimeError: this is not PostgreSQL.
        """
        pool = self._driver_pool
        if pool is None:
            raise RuntimeError("fetch_first is for PostgreSQL only")
        if not self._driver_opened:
            async with self._driver_opening:
                if not self._driver_opened:
                    await pool.open(wait=False)
                    self._driver_opened = True
        async with pool.connection() as connection:
            cursor = await connection.execute(
                statement.sql, statement.parameters(params), prepare=True
            )
            row = await cursor.fetchone()
            return None if row is None else tuple(row)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._driver_pool is not None and self._driver_opened:
            await self._driver_pool.close()
            self._driver_opened = False
        await self.engine.dispose()
        if self._threaded is not None:
            self._threaded.dispose()
