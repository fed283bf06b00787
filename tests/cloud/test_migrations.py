"""Schema migrations go up and down on SQLite and PostgreSQL (0002, 0003, 0005)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from wellpipe.cloud.db import Database
from wellpipe.cloud.db.migrate import alembic_config, current_revision, head_revision

HEAD = "0005"


def _columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("oauth_states")}


def _to(revision: str, *, down: bool = False) -> object:
    def run(connection: Connection) -> None:
        config = alembic_config(connection)
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    return run


async def test_0002_adds_and_removes_the_sealed_verifier(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert await current_revision(db) in {None, head_revision()}
        async with db.engine.begin() as connection:
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert "sealed_verifier" in await connection.run_sync(_columns)
        assert await current_revision(db) == head_revision() == HEAD

        async with db.engine.begin() as connection:
            await connection.run_sync(_to("0001", down=True))  # type: ignore[arg-type]
            columns = await connection.run_sync(_columns)
        assert "sealed_verifier" not in columns
        assert {"state_digest", "code_verifier", "nonce"} <= columns
        assert await current_revision(db) == "0001"

        async with db.engine.begin() as connection:
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert "sealed_verifier" in await connection.run_sync(_columns)
        assert await current_revision(db) == HEAD
    finally:
        await db.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_0003_adds_and_removes_the_authorization_server_tables(database_url: str) -> None:
    oauth = {"oauth_clients", "oauth_requests", "oauth_codes", "oauth_grants", "oauth_tokens"}
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert oauth <= await connection.run_sync(_tables)
            await connection.run_sync(_to("0002", down=True))  # type: ignore[arg-type]
            assert not oauth & await connection.run_sync(_tables)
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert oauth <= await connection.run_sync(_tables)
        assert await current_revision(db) == HEAD
    finally:
        await db.dispose()


async def test_0005_adds_and_removes_the_history_tables(database_url: str) -> None:
    history = {"history_keys", "history_records", "history_spans", "history_cursors"}
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert history <= await connection.run_sync(_tables)
            assert await connection.run_sync(_history_matches_the_tables)
            await connection.run_sync(_to("0004", down=True))  # type: ignore[arg-type]
            assert not history & await connection.run_sync(_tables)
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert history <= await connection.run_sync(_tables)
        assert await current_revision(db) == HEAD
    finally:
        await db.dispose()


def _history_matches_the_tables(connection: Connection) -> bool:
    """The migrated history tables are what ``tables.py`` declares (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from wellpipe.cloud.db.tables import Base

    diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    drift = [entry for entry in diff if "history_" in repr(entry)]
    assert drift == []
    return True
