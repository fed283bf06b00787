"""Helpers for the token-storage tests: a migrated context, users, raw row access."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database, upgrade_to_head
from wellpipe.cloud.db.tables import Connection, User
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.ports import Clock


async def migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade_to_head(db)
    finally:
        await db.dispose()


def settings_for(url: str, keys: str, home: Path | None = None) -> CloudSettings:
    return CloudSettings(
        home=home or Path("/nonexistent-wellpipe-home"),
        database_url=url,
        encryption_keys=SecretStr(keys),
        api_key_pepper=SecretStr("pepper-" + "x" * 32),
        public_url="http://wellpipe.test",
        sandbox=False,
    )


@asynccontextmanager
async def open_ctx(
    url: str, keys: str, clock: Clock, *, migrate: bool = True
) -> AsyncIterator[CloudContext]:
    """A context on ``url`` (migrated), disposed at the end."""
    db = Database(url)
    try:
        if migrate:
            await upgrade_to_head(db)
        yield CloudContext(settings=settings_for(url, keys), db=db, clock=clock)
    finally:
        await db.dispose()


def with_keys(ctx: CloudContext, keys: str) -> CloudContext:
    """Another process's view of the same database: its own key ring, locks and caches."""
    return CloudContext(
        settings=settings_for(str(ctx.settings.database_url), keys), db=ctx.db, clock=ctx.clock
    )


async def add_user(ctx: CloudContext, user_id: str | None = None) -> str:
    user_id = user_id or secrets.token_hex(8)
    async with ctx.db.transaction() as session:
        session.add(
            User(
                id=user_id,
                email=f"{user_id}@example.test",
                plan="FREE",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    return user_id


async def raw_row(ctx: CloudContext, user_id: str, provider: str = "whoop") -> Any:
    async with ctx.db.sessions() as session:
        return (
            await session.execute(
                select(Connection.__table__).where(
                    Connection.user_id == user_id, Connection.provider == provider
                )
            )
        ).one()


async def set_columns(ctx: CloudContext, connection_id: str, **values: Any) -> None:
    """Write columns directly (no version bump): what an attacker or a test does."""
    async with ctx.db.transaction() as session:
        await session.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
