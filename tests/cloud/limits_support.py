"""Shared helpers for the key and limit tests: a bare context (no app), users, query counting."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database, upgrade_to_head
from wellpipe.cloud.db.tables import User
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.ports import Clock

REDIS_URL = "redis://127.0.0.1:6379/0"


async def open_context(settings: CloudSettings, clock: Clock) -> CloudContext:
    """A migrated database and a context over it (close with ``ctx.db.dispose()``)."""
    db = Database(settings.effective_database_url)
    await upgrade_to_head(db)
    return CloudContext(settings=settings, db=db, clock=clock)


async def add_user(ctx: CloudContext, *, plan: str = "FREE") -> str:
    """A user row written directly (the accounts service is tested elsewhere)."""
    user_id = secrets.token_hex(16)
    async with ctx.db.transaction() as session:
        session.add(
            User(
                id=user_id,
                email=f"{user_id}@example.com",
                password_hash=None,
                google_subject=None,
                plan=plan,
                created_at=ctx.clock.now(),
            )
        )
    return user_id


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


def redis_reachable() -> str | None:
    """``None`` when Redis answers on 127.0.0.1:6379, else why not."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return None
            return "Redis at 127.0.0.1:6379 did not answer PING"
    except OSError as error:
        return f"Redis at 127.0.0.1:6379 is not reachable ({type(error).__name__})"
