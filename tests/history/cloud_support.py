"""The cloud's history store on a fresh database (SQLite file or PostgreSQL copy)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.cloud.conftest import drop_postgres_database, fresh_postgres_database, new_key_ring
from wellpipe.cloud.db import Database
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.migrate import upgrade_database
from wellpipe.cloud.db.tables import User
from wellpipe.cloud.security.crypto import KeyRing, TokenCipher

Breaker = Callable[[pytest.MonkeyPatch], None]


def _failing(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("the process died between the page's records and its cursor")


def database_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[str]:
    """A migrated database's URL: a SQLite file under ``tmp_path``, or a copy of the PG template.

    Call it from a synchronous fixture (the PostgreSQL template is built with ``anyio.run``).
    """
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
        anyio.run(upgrade_database, url)
        yield url
        return
    admin = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name, url = fresh_postgres_database(admin, template=template)
    try:
        yield url
    finally:
        drop_postgres_database(admin, name)


async def add_user(db: Database, user_id: str) -> str:
    async with db.transaction() as session:
        session.add(User(id=user_id, email=f"{user_id}@example.test", created_at=datetime.now(UTC)))
    return user_id


def cipher(keys: str | None = None) -> TokenCipher:
    return TokenCipher(KeyRing.parse(keys or new_key_ring("k1")))


@asynccontextmanager
async def cloud_home(url: str) -> AsyncIterator[tuple[UserHistory, Breaker]]:
    db = Database(url)
    try:
        store = UserHistory(db, cipher(), await add_user(db, "u-contract"))
        yield store, lambda mp: mp.setattr(store, "_save_cursor", _failing)
    finally:
        await db.dispose()
