"""Cloud fixtures: the app on SQLite and on the real PostgreSQL, the WHOOP sandbox behind it.

Tests that take ``database_url`` run twice: once on a fresh SQLite file, once on a fresh
PostgreSQL database (127.0.0.1:5432, trust auth). Locally a missing PostgreSQL skips
with a reason; under ``CI=true`` it fails, because CI must test PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from base64 import urlsafe_b64encode
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import NOW, ORIGIN
from tests.fakes import FakeClock
from wellpipe.cloud.app import create_app
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit import History as GoogleHistory
from wellpipe.sandbox.fitbit import generate_history as google_history
from wellpipe.sandbox.oura import History as OuraHistory
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PUBLIC_URL = "http://wellpipe.test"


def _pg_dsn_user() -> str:
    return os.environ.get("WELLPIPE_TEST_PG_USER", "postgres")


def postgres_reachable() -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(error).__name__})"


def require_service(reason: str | None) -> None:
    """Skip locally (with ``reason``), fail under CI: CI must exercise the real services."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run these tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    require_service(postgres_reachable())
    return PG_ADMIN_DSN


def fresh_postgres_database(admin_dsn: str, *, template: str | None = None) -> tuple[str, str]:
    """Create a database (empty, or a copy of ``template``); returns ``(name, sqlalchemy url)``."""
    import psycopg

    name = f"wellpipe_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return name, f"postgresql+psycopg://{_pg_dsn_user()}@127.0.0.1:5432/{name}"


def drop_postgres_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A database migrated to the newest revision once per session, copied for each test.

    ``CREATE DATABASE … TEMPLATE`` copies files, so each test's database costs a fraction
    of creating and migrating one.
    """
    import anyio

    from wellpipe.cloud.db.migrate import upgrade_database

    name, url = fresh_postgres_database(postgres_server)
    try:
        anyio.run(upgrade_database, url)
        yield name
    finally:
        drop_postgres_database(postgres_server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name, url = fresh_postgres_database(admin, template=template)
    try:
        yield url
    finally:
        drop_postgres_database(admin, name)


def new_key_ring(*kids: str) -> str:
    return ",".join(f"{kid}:{urlsafe_b64encode(secrets.token_bytes(32)).decode()}" for kid in kids)


@pytest.fixture
def cloud_settings(tmp_path: Path, database_url: str) -> CloudSettings:
    return CloudSettings(
        home=tmp_path,
        database_url=database_url,
        encryption_keys=SecretStr(new_key_ring("k1")),
        api_key_pepper=SecretStr(secrets.token_urlsafe(32)),
        public_url=PUBLIC_URL,
        sandbox=False,
    )


@dataclass
class Cloud:
    """The running app, its context, a client for it and the WHOOP sandbox behind it."""

    app: FastAPI
    ctx: CloudContext
    client: httpx2.AsyncClient
    sandbox: WhoopSandbox
    clock: FakeClock


@pytest.fixture
def whoop_app_credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("WELLPIPE_WHOOP_CLIENT_ID", "cloud-client")
    monkeypatch.setenv("WELLPIPE_WHOOP_CLIENT_SECRET", "cloud-secret")
    return "cloud-client", "cloud-secret"


@asynccontextmanager
async def running(
    settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    base_url: str = PUBLIC_URL,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    base_urls: dict[str, str] | None = None,
) -> AsyncIterator[Cloud]:
    """The app on ``settings``, with WHOOP = the in-process sandbox at ``ORIGIN``.

    ``transport`` and ``base_urls`` replace that wiring (several providers' sandboxes).
    """
    app = create_app(
        settings,
        clock=clock,
        provider_transport=transport or sandbox.transport(),
        provider_base_urls=base_urls or {"whoop": ORIGIN},
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield Cloud(app=app, ctx=app.state.ctx, client=client, sandbox=sandbox, clock=clock)


@pytest.fixture
async def cloud(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
) -> AsyncIterator[Cloud]:
    """The app on a fresh database, with WHOOP = the in-process sandbox at ``ORIGIN``."""
    async with running(cloud_settings, clock, sandbox) as started:
        yield started


# ------------------------------------------------- three providers, three sandboxes
OURA = "http://oura.test"
FITBIT = "http://fitbit.test"


class ByHost(httpx2.AsyncBaseTransport):
    """Each provider's requests to its own in-process sandbox, by host."""

    def __init__(self, routes: dict[str, httpx2.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.routes[request.url.host].handle_async_request(request)


@dataclass
class Trio:
    cloud: Cloud
    whoop: WhoopSandbox
    oura: OuraSandbox
    fitbit: FitbitSandbox


@pytest.fixture(scope="module")
def ring_history() -> OuraHistory:
    return oura_history(now=NOW)


@pytest.fixture(scope="module")
def google_data() -> GoogleHistory:
    return google_history(now=NOW)


@pytest.fixture
async def trio(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    ring_history: OuraHistory,
    google_data: GoogleHistory,
    whoop_app_credentials: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Trio]:
    for name in ("OURA", "FITBIT"):
        monkeypatch.setenv(f"WELLPIPE_{name}_CLIENT_ID", "cloud-client")
        monkeypatch.setenv(f"WELLPIPE_{name}_CLIENT_SECRET", "cloud-secret")
    oura = OuraSandbox(clock=clock, history=ring_history)
    fitbit = FitbitSandbox(clock=clock, history=google_data)
    routes: dict[str, httpx2.AsyncBaseTransport] = {
        "whoop.test": sandbox.transport(),
        "oura.test": oura.transport(),
        "fitbit.test": fitbit.transport(),
    }
    async with running(
        cloud_settings,
        clock,
        sandbox,
        transport=ByHost(routes),
        base_urls={"whoop": ORIGIN, "oura": OURA, "fitbit": FITBIT},
    ) as cloud:
        yield Trio(cloud=cloud, whoop=sandbox, oura=oura, fitbit=fitbit)
