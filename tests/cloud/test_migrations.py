"""Schema migrations go up and down on SQLite and PostgreSQL (0002, 0003)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from wellpipe.cloud.db import Database
from wellpipe.cloud.db.migrate import alembic_config, current_revision, head_revision


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
        assert await current_revision(db) == head_revision() == "0003"

        async with db.engine.begin() as connection:
            await connection.run_sync(_to("0001", down=True))  # type: ignore[arg-type]
            columns = await connection.run_sync(_columns)
        assert "sealed_verifier" not in columns
        assert {"state_digest", "code_verifier", "nonce"} <= columns
        assert await current_revision(db) == "0001"

        async with db.engine.begin() as connection:
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
            assert "sealed_verifier" in await connection.run_sync(_columns)
        assert await current_revision(db) == "0003"
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
        assert await current_revision(db) == "0003"
    finally:
        await db.dispose()
