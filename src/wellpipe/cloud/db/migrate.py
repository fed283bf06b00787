"""Schema migrations (Alembic), run programmatically: ``wellpipe cloud migrate`` and at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from wellpipe.cloud.db.engine import Database

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade_database",
    "upgrade_to_head",
]

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x77656C6C  # "well": one migrator at a time when several workers start together


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this version."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_to_head(db: Database) -> None:
    """Bring the schema to the newest revision (idempotent; safe from several workers)."""
    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade_database(url: str) -> str | None:
    """Open the database at ``url``, bring it to the newest revision, close it again.

    Returns:
        The revision it is at afterwards.
    """
    db = Database(url)
    try:
        await upgrade_to_head(db)
        return await current_revision(db)
    finally:
        await db.dispose()
