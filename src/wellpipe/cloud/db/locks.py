"""The cross-process lock of one connection's token refreshes, held where the database is.

Every worker process of a service uses the same database, so the database's neighbourhood
is where they meet (R-1.9):

* **PostgreSQL**: a session advisory lock, ``pg_advisory_lock(namespace, hashtext(name))``,
  held on a psycopg connection of its own, outside the request pool: a refresh waiting
  on a slow token endpoint holds no pooled connection and blocks no other connection's
  reads or writes. Advisory locks have no lease, so the wait is bounded by
  ``lock_timeout`` (the caller's deadline) and the hold by the token endpoint's timeout;
  closing the connection (or losing it) releases the lock (R-1.16).
* **SQLite**: an OS file lock (``flock``, through `filelock`) in a folder beside the
  database file, striped by name. Every process using a SQLite file is on the same
  machine, and the kernel releases the lock of a process that dies.
* A database that is not a file on disk (or SQLite in memory) is one process only: no
  lock is needed.

The lock is held by whoever enters `cross_process_lock` and released on exit, also on
cancellation.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from wellpipe.cloud.db.engine import Database

__all__ = ["LockTimeout", "LockUnavailable", "cross_process_lock"]

_PG_LOCK_CLASS = 0x57505246  # "WPRF": the advisory-lock namespace of token refreshes
_SQLITE_LOCK_STRIPES = 256
_LOCK_POLL_S = 0.005
_LOCK_SLICE_S = 0.25


class LockTimeout(TimeoutError):
    """Another process held the lock past the deadline; nothing was changed."""


class LockUnavailable(Exception):
    """The database refused the lock's own connection.

    Attributes:
        reason: The driver's error class name (never its message: it may hold the DSN).
    """

    def __init__(self, reason: str) -> None:
        """The lock could not be asked for, because of a ``reason`` error."""
        super().__init__(f"the database refused a lock connection ({reason})")
        self.reason = reason


@asynccontextmanager
async def cross_process_lock(db: Database, name: str, *, deadline: float) -> AsyncIterator[None]:
    """Hold the lock called ``name`` against every other process using ``db``.

    Args:
        db: The database the processes share.
        name: What is locked (one connection's refreshes: ``provider:user_id``).
        deadline: The `anyio.current_time` by which the lock must be held.

    Raises:
        LockTimeout: another process held it past ``deadline``.
        LockUnavailable: PostgreSQL refused the lock's connection.
    """
    if db.is_postgres:
        async with _postgres_lock(db, name, deadline):
            yield
        return
    database = db.url.database if db.dialect == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # one process only (or a database we cannot find on disk)
        return
    async with _file_lock(Path(database), name, deadline):
        yield


@asynccontextmanager
async def _postgres_lock(db: Database, name: str, deadline: float) -> AsyncIterator[None]:
    """A session advisory lock on a connection of its own (closing it releases the lock)."""
    import psycopg

    conninfo = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    remaining = max(0.001, deadline - anyio.current_time())
    try:
        connection = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, connect_timeout=max(2, int(remaining))
        )
    except psycopg.OperationalError as error:
        raise LockUnavailable(type(error).__name__) from None
    try:
        remaining_ms = max(1, int((deadline - anyio.current_time()) * 1000))
        try:
            await connection.execute(f"SET lock_timeout = {remaining_ms}")
            await connection.execute(
                "SELECT pg_advisory_lock(%s, hashtext(%s))", (_PG_LOCK_CLASS, name)
            )
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout("another process held the lock past the deadline") from None
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await connection.close()


@asynccontextmanager
async def _file_lock(database: Path, name: str, deadline: float) -> AsyncIterator[None]:
    """An OS file lock (flock) striped by name, beside the SQLite file."""
    import filelock

    folder = database.with_name(database.name + ".locks")
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    stripe = int.from_bytes(digest[:4], "big") % _SQLITE_LOCK_STRIPES
    lock = filelock.FileLock(
        folder / f"refresh-{stripe:03d}.lock",
        mode=0o600,
        thread_local=False,
        preserve_lock_file=True,
    )
    try:
        while True:
            remaining = deadline - anyio.current_time()
            try:
                # Not abandoned on cancellation: a lock the thread took comes back
                # here, and the ``finally`` below releases it.
                await anyio.to_thread.run_sync(
                    functools.partial(
                        lock.acquire,
                        timeout=max(0.0, min(remaining, _LOCK_SLICE_S)),
                        poll_interval=_LOCK_POLL_S,
                    )
                )
            except filelock.Timeout:
                if remaining <= _LOCK_SLICE_S:
                    raise LockTimeout("another process held the lock past the deadline") from None
                continue
            break
        yield
    finally:
        lock.release(force=True)
