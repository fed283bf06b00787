"""The database layer's own promises: URLs it accepts, its two fast paths, what they commit."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, String, bindparam, func, literal, select, text

from tests.cloud.conftest import drop_postgres_database, fresh_postgres_database
from wellpipe.cloud.db import Database
from wellpipe.cloud.db.engine import DriverStatement


def test_postgresql_urls_mean_psycopg_and_other_drivers_are_refused() -> None:
    plain = Database("postgresql://user:secret@db.example/wellpipe")
    assert plain.url.drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match=r"postgresql\+psycopg://") as refused:
        Database("postgresql+asyncpg://user:secret@db.example/wellpipe")
    assert "secret" not in str(refused.value)


def test_sqlite_in_memory_is_refused_with_what_to_do() -> None:
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        with pytest.raises(ValueError, match="give a database file"):
            Database(url)


def test_a_compiled_statement_names_what_it_still_needs() -> None:
    db = Database("postgresql+psycopg://user@db.example/wellpipe")
    statement = DriverStatement.compile(
        select(literal(7).label("seven"), bindparam("p_name", type_=String).label("name")), db
    )
    with pytest.raises(ValueError, match="p_name"):
        statement.parameters({})
    assert statement.parameters({"p_name": "x"}) == {"param_1": 7, "p_name": "x"}


async def test_sqlite_units_of_work_commit_or_roll_back_whole(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        assert db.threaded
        await db.in_thread(lambda c: c.exec_driver_sql("CREATE TABLE t (n INTEGER)"))

        def two_then_fail(connection: Connection) -> None:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            connection.exec_driver_sql("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.in_thread(two_then_fail)
        await db.in_thread(lambda c: c.exec_driver_sql("INSERT INTO t VALUES (3)"))

        async with db.autocommit() as connection:  # the async engine sees the same file
            rows = (await connection.execute(text("SELECT n FROM t"))).scalars().all()
        assert rows == [3]

        # Units run one at a time and each sees the one before: no lost update.
        def bump(connection: Connection) -> None:
            (value,) = connection.exec_driver_sql("SELECT max(n) FROM t").one()
            connection.exec_driver_sql(f"INSERT INTO t VALUES ({value + 1})")

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(db.in_thread, bump)
        async with db.autocommit() as connection:
            top = await connection.scalar(select(func.max(text("n"))).select_from(text("t")))
        assert top == 23
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_only_the_counters_commit_asynchronously_on_postgres(postgres_server: str) -> None:
    name, url = fresh_postgres_database(postgres_server)
    db = Database(url)
    try:
        setting = DriverStatement.compile(
            select(func.current_setting("synchronous_commit").label("value")), db
        )
        assert await db.run_compiled(setting, {}, durable=False) == ("off",)
        assert await db.run_compiled(setting, {}, durable=True) == ("on",)
        async with db.autocommit() as connection:  # SQLAlchemy's pool: durable too
            assert await connection.scalar(text("SHOW synchronous_commit")) == "on"
    finally:
        await db.dispose()
        drop_postgres_database(postgres_server, name)


async def test_the_driver_path_is_for_postgresql_only(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        statement = DriverStatement(sql="SELECT 1", constants={}, required=frozenset())
        with pytest.raises(RuntimeError, match="PostgreSQL only"):
            await db.run_compiled(statement, {}, durable=True)
    finally:
        await db.dispose()
