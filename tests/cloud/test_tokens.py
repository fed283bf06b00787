"""Provider tokens in the database: connections, `DatabaseTokenProvider`, refresh races.

T-1.5 (in-process race), T-1.7 (cross-worker race: 2 OS processes on SQLite and on
PostgreSQL), T-1.8 (stale-writer fencing), T-1.16 (a database blip after a refresh),
R-6.5 (a dead grant deletes its tokens), T-2.3 on real rows.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from sqlalchemy import event, select

from tests.cloud.conftest import drop_postgres_database, fresh_postgres_database, new_key_ring
from tests.cloud.tokens_support import (
    add_user,
    migrate,
    open_ctx,
    raw_row,
    set_columns,
    with_keys,
)
from tests.conftest import CREDENTIALS, ORIGIN
from tests.fakes import FakeClock
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.tables import AuditEvent
from wellpipe.cloud.security.crypto import MissingKeyError, TokenDecryptionError, key_id_of
from wellpipe.cloud.services.tokens import (
    ConnectionInfo,
    DatabaseTokenProvider,
    connection_status,
    delete_connection,
    read_access_token,
    reconnect_action,
    save_connection,
)
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ProviderUnavailable, ReauthorizationRequired
from wellpipe.core.ports import TokenProvider
from wellpipe.core.provider_info import RateLimit
from wellpipe.core.tokens import TokenSet
from wellpipe.oauth import OAuthClient, TokenRefresher
from wellpipe.providers.connector import get_connector
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background
from wellpipe.sandbox.whoop import History

REPO = Path(__file__).resolve().parents[2]
KEYS = new_key_ring("k1")


def token_set(clock: FakeClock, n: int = 1, *, refresh: bool = True) -> TokenSet:
    return TokenSet(
        access_token=f"access-{n}-" + "a" * 30,
        refresh_token=f"refresh-{n}-" + "r" * 30 if refresh else None,
        expires_at=clock.now() + timedelta(hours=1),
        scopes=frozenset({"read:sleep", "offline"}),
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for this module (every test has its own users):
    `database_url` semantics, without a CREATE DATABASE and a migration per test."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tokens') / 'cloud.db'}"
        anyio.run(migrate, url)
        yield url
        return
    admin = request.getfixturevalue("postgres_server")
    name, url = fresh_postgres_database(admin)
    try:
        anyio.run(migrate, url)
        yield url
    finally:
        drop_postgres_database(admin, name)


@pytest.fixture
async def ctx(shared_url: str, clock: FakeClock) -> AsyncIterator[CloudContext]:
    async with open_ctx(shared_url, KEYS, clock, migrate=False) as ctx:
        yield ctx


@pytest.fixture
async def user(ctx: CloudContext) -> str:
    return await add_user(ctx)


def provider(ctx: CloudContext, user: str, **kwargs: Any) -> DatabaseTokenProvider:
    tokens = DatabaseTokenProvider(ctx, user_id=user, provider="whoop", **kwargs)
    protocol: TokenProvider = tokens  # the port, checked by mypy
    assert protocol is tokens
    return tokens


# ---------------------------------------------------------------- connections
async def test_save_stores_ciphertexts_bound_to_the_row_and_reports_no_tokens(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    tokens = token_set(clock)
    connection_id = await save_connection(
        ctx, user_id=user, provider="whoop", tokens=tokens, provider_user_id="10129"
    )
    row = await raw_row(ctx, user)
    assert row.id == connection_id
    assert (row.version, row.status, row.key_id) == (1, "active", "k1")
    for column in (row.access_token, row.refresh_token):
        assert key_id_of(column) == "k1"
        assert b"access-1" not in column
        assert b"refresh-1" not in column
    assert await read_access_token(ctx, user_id=user, provider="whoop") == tokens.access_token
    assert await connection_status(ctx, user) == [
        ConnectionInfo(
            provider="whoop",
            status="active",
            status_reason=None,
            scopes=frozenset({"read:sleep", "offline"}),
            expires_at=tokens.expires_at,
            connected_at=clock.now(),
            provider_user_id="10129",
        )
    ]
    assert "access-1" not in repr(await connection_status(ctx, user))


async def test_saving_again_keeps_the_id_and_moves_the_version_on(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    first = await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock, 1), provider_user_id=None
    )
    tokens = provider(ctx, user)
    await tokens.mark_reauthorization_required("the provider refused the refresh token")
    clock.advance(60)
    second = await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock, 2), provider_user_id="7"
    )
    assert second == first
    row = await raw_row(ctx, user)
    assert (row.version, row.status, row.status_reason) == (3, "active", None)
    assert await tokens.get_refresh_token() == token_set(clock, 2).refresh_token
    [info] = await connection_status(ctx, user)
    assert info.connected_at == clock.now()
    other = await add_user(ctx)
    assert await read_access_token(ctx, user_id=other, provider="whoop") is None
    assert await connection_status(ctx, other) == []


async def test_delete_connection(ctx: CloudContext, user: str, clock: FakeClock) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    assert await delete_connection(ctx, user_id=user, provider="whoop") is True
    assert await delete_connection(ctx, user_id=user, provider="whoop") is False
    assert await connection_status(ctx, user) == []
    tokens = provider(ctx, user)
    assert await tokens.get_access_token() is None
    assert await tokens.get_refresh_token() is None
    with pytest.raises(ReauthorizationRequired, match="reconnect WHOOP in the dashboard"):
        await tokens.update_tokens("new-access", "new-refresh")


async def test_a_ciphertext_copied_to_another_row_or_column_does_not_decrypt(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    other = await add_user(ctx)
    for owner, n in ((user, 1), (other, 2)):
        await save_connection(
            ctx, user_id=owner, provider="whoop", tokens=token_set(clock, n), provider_user_id=None
        )
    mine, theirs = await raw_row(ctx, user), await raw_row(ctx, other)
    await set_columns(ctx, theirs.id, refresh_token=mine.refresh_token)
    with pytest.raises(TokenDecryptionError, match="reconnect WHOOP"):
        await provider(ctx, other).get_refresh_token()
    await set_columns(ctx, mine.id, access_token=mine.refresh_token)  # field swap in one row
    with pytest.raises(TokenDecryptionError):
        await read_access_token(ctx, user_id=user, provider="whoop")
    assert await provider(ctx, user).get_refresh_token() == token_set(clock, 1).refresh_token


# ---------------------------------------------------------------- provider semantics
async def test_getters_read_what_is_stored_now(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    tokens = provider(ctx, user)
    assert (await tokens.get_access_token(), await tokens.is_expired()) == (None, False)
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock, 1), provider_user_id=None
    )
    assert await tokens.get_access_token() == token_set(clock, 1).access_token
    assert await tokens.get_refresh_token() == token_set(clock, 1).refresh_token
    assert not await tokens.is_expired()
    assert await tokens.is_expired(timedelta(hours=1))
    assert not await tokens.is_expired(timedelta(minutes=59))
    # Another worker writes: this instance sees it on its next read, no cache.
    await provider(ctx, user).update_tokens("written-elsewhere", None, clock.now())
    assert await tokens.get_access_token() == "written-elsewhere"
    assert await tokens.is_expired()
    assert tokens.version == 2


async def test_update_writes_one_new_version_and_keeps_the_refresh_token_when_none_came(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    tokens = provider(ctx, user)
    before = await raw_row(ctx, user)
    expires = clock.now() + timedelta(hours=2)
    await tokens.update_tokens("access-2", None, expires)
    row = await raw_row(ctx, user)
    assert row.version == before.version + 1
    assert await tokens.get_access_token() == "access-2"
    assert await tokens.get_refresh_token() == token_set(clock).refresh_token
    assert row.refresh_token != before.refresh_token  # re-encrypted with a fresh nonce
    assert row.expires_at == expires
    await tokens.update_tokens("access-3", "refresh-3")
    assert await tokens.get_refresh_token() == "refresh-3"
    assert not await tokens.is_expired(timedelta(days=9999))  # no expiry known: valid
    assert (await raw_row(ctx, user)).version == before.version + 2


async def test_every_write_re_encrypts_under_the_primary_key(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    k1 = ctx.settings.encryption_keys
    assert k1 is not None
    rotated = with_keys(ctx, new_key_ring("k2") + "," + k1.get_secret_value())
    tokens = provider(rotated, user)
    assert await tokens.get_refresh_token() == token_set(clock).refresh_token  # k1 still read
    await tokens.update_tokens("access-2")
    row = await raw_row(ctx, user)
    assert row.key_id == "k2"
    assert (key_id_of(row.access_token), key_id_of(row.refresh_token)) == ("k2", "k2")
    assert await tokens.get_refresh_token() == token_set(clock).refresh_token
    with pytest.raises(MissingKeyError, match="missing key k2"):
        await provider(ctx, user).get_access_token()  # a worker that lacks the new key


async def test_a_stale_writer_never_overwrites_newer_tokens(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    first, second = provider(ctx, user), provider(ctx, user)
    assert await first.get_refresh_token() == await second.get_refresh_token()
    assert first.version == second.version == 1

    await first.update_tokens("access-first", "refresh-first")
    await second.update_tokens("access-second", "refresh-second")  # read version 1: stale

    assert (first.write_conflicts, second.write_conflicts) == (0, 1)
    assert second.version == 2  # it re-read the newer row
    assert (await raw_row(ctx, user)).version == 2
    await second.update_tokens("access-again")  # still fenced: it has not looked yet
    assert second.write_conflicts == 2

    # Once it has seen the newer tokens, it writes on top of them.
    assert await second.get_access_token() == "access-first"
    assert await second.get_refresh_token() == "refresh-first"
    await second.update_tokens("access-third")
    assert second.write_conflicts == 2
    assert await first.get_access_token() == "access-third"
    assert await first.get_refresh_token() == "refresh-first"
    assert (await raw_row(ctx, user)).version == 3


async def test_a_refresh_racing_a_reconnect_keeps_the_new_grant(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock, 1), provider_user_id=None
    )
    refreshing = provider(ctx, user)
    assert await refreshing.get_refresh_token()
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock, 2), provider_user_id=None
    )
    await refreshing.update_tokens("refreshed-old-grant", "refreshed-old-rt")
    await refreshing.mark_reauthorization_required("too late")
    assert refreshing.write_conflicts == 2
    row = await raw_row(ctx, user)
    assert (row.status, row.version) == ("active", 2)
    assert await refreshing.get_refresh_token() == token_set(clock, 2).refresh_token


async def test_a_dead_grant_deletes_its_tokens_marks_and_audits(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    tokens = provider(ctx, user)
    assert await tokens.reauthorization_reason() is None
    await tokens.mark_reauthorization_required("the provider refused the refresh token")
    row = await raw_row(ctx, user)
    assert (row.access_token, row.refresh_token) == (None, None)
    assert (row.status, row.status_reason, row.version) == (
        "needs_reauth",
        "the provider refused the refresh token",
        2,
    )
    assert await tokens.get_refresh_token() is None
    assert await tokens.get_access_token() is None
    assert await tokens.reauthorization_reason() == "the provider refused the refresh token"
    [info] = await connection_status(ctx, user)
    assert (info.status, info.status_reason) == ("needs_reauth", row.status_reason)
    async with ctx.db.sessions() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.user_id == user)))
    assert [(e.event, json.loads(e.detail)) for e in events] == [
        (
            "provider.reauth_required",
            {"provider": "whoop", "reason": "the provider refused the refresh token"},
        )
    ]
    # Storing a new pair (what a refresh would do) makes the connection active again.
    await tokens.update_tokens("fresh-access", "fresh-refresh")
    assert await tokens.reauthorization_reason() is None
    assert (await raw_row(ctx, user)).status == "active"


# ---------------------------------------------------------------- refresh through the sandbox
def oauth_for(sandbox: WhoopSandbox, http: httpx2.AsyncClient, clock: Any) -> OAuthClient:
    connector = get_connector("whoop")
    return connector.oauth_client(
        settings=connector.location(ORIGIN), credentials=CREDENTIALS, http=http, clock=clock
    )


async def refresh_storm(
    contexts: list[CloudContext], user: str, oauth: OAuthClient, calls: int
) -> list[str]:
    """``calls`` concurrent requests per context, each with its own provider and refresher."""
    tokens: list[str] = []

    async def call(ctx: CloudContext) -> None:
        refresher = TokenRefresher(
            tokens=provider(ctx, user), oauth=oauth, reconnect_action=reconnect_action("whoop")
        )
        tokens.append(await refresher.access_token())

    async with anyio.create_task_group() as group:
        for ctx in contexts:
            for _ in range(calls):
                group.start_soon(call, ctx)
    return tokens


async def test_50_concurrent_requests_at_expiry_refresh_once(
    ctx: CloudContext, user: str, clock: FakeClock, sandbox: WhoopSandbox
) -> None:
    await save_connection(
        ctx,
        user_id=user,
        provider="whoop",
        tokens=sandbox.issue_token_set(client_id=CREDENTIALS.client_id),
        provider_user_id=None,
    )
    other_worker = with_keys(ctx, KEYS)  # own task locks: the cross-worker lock must hold
    async with httpx2.AsyncClient(transport=sandbox.transport()) as http:
        oauth = oauth_for(sandbox, http, clock)
        for round_ in range(1, 3):
            clock.advance(3600)
            tokens = await refresh_storm([ctx, other_worker], user, oauth, calls=25)
            assert len(tokens) == 50
            assert set(tokens) == {await provider(ctx, user).get_access_token()}
            assert sandbox.auth.refreshes == round_
            assert sandbox.auth.token_requests == round_  # so no invalid_grant
            assert (await raw_row(ctx, user)).version == 1 + round_
        # The stored refresh token is the sandbox's newest: it refreshes once more.
        newest = await provider(ctx, user).get_refresh_token()
        assert newest is not None
        assert (await oauth.refresh(newest)).access_token


async def test_an_invalid_grant_marks_the_connection_once(
    ctx: CloudContext, user: str, clock: FakeClock, sandbox: WhoopSandbox
) -> None:
    issued = sandbox.issue_token_set(client_id=CREDENTIALS.client_id)
    await save_connection(ctx, user_id=user, provider="whoop", tokens=issued, provider_user_id=None)
    async with httpx2.AsyncClient(transport=sandbox.transport()) as http:
        oauth = oauth_for(sandbox, http, clock)
        assert issued.refresh_token is not None
        await oauth.refresh(issued.refresh_token)  # someone outside Wellpipe spent it
        clock.advance(3600)
        refresher = TokenRefresher(
            tokens=provider(ctx, user), oauth=oauth, reconnect_action=reconnect_action("whoop")
        )
        with pytest.raises(ReauthorizationRequired, match="reconnect WHOOP in the dashboard"):
            await refresher.access_token()
        # Asked again, the recorded reason, not "no refresh token is stored".
        with pytest.raises(ReauthorizationRequired, match="the provider refused the refresh token"):
            await refresher.access_token()
    row = await raw_row(ctx, user)
    assert (row.status, row.refresh_token, row.access_token) == ("needs_reauth", None, None)
    assert sandbox.auth.token_requests == 2  # our one attempt after the outsider's


async def test_a_held_lock_times_out_with_tokens_untouched(
    ctx: CloudContext, user: str, clock: FakeClock
) -> None:
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    other_worker = with_keys(ctx, KEYS)  # its own task locks: only the cross-worker lock holds
    outcomes: dict[str, str] = {}
    two_gave_up = anyio.Event()

    async def wait_for(name: str, tokens: DatabaseTokenProvider) -> None:
        try:
            async with tokens.refresh_lock():
                outcomes[name] = "entered"
        except ProviderUnavailable as error:
            outcomes[name] = str(error)
        if len(outcomes) == 2:
            two_gave_up.set()

    holder = provider(ctx, user)
    async with anyio.create_task_group() as group, holder.refresh_lock():
        group.start_soon(wait_for, "worker", provider(other_worker, user, lock_timeout_s=0.2))
        group.start_soon(wait_for, "request", provider(ctx, user, lock_timeout_s=0.05))
        group.start_soon(wait_for, "patient", provider(other_worker, user, lock_timeout_s=30))
        await two_gave_up.wait()
        assert "patient" not in outcomes
        # released: the patient waiter gets it
    assert outcomes["patient"] == "entered"
    assert (
        "another worker has been refreshing this account's tokens for over 0.2 s"
        in (outcomes["worker"])
    )
    assert "another request has been refreshing" in outcomes["request"]
    assert "nothing was lost" in outcomes["request"]
    assert (await raw_row(ctx, user)).version == 1
    assert await holder.get_refresh_token() == token_set(clock).refresh_token


# ---------------------------------------------------------------- T-1.16 database blip
def kill_connections_on_update(ctx: CloudContext, admin_dsn: str, times: int) -> list[int]:
    """Terminate (server side) the connection of each of the next ``times`` token writes."""
    killed: list[int] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE connections") and len(killed) < times:
            pid = conn.connection.driver_connection.info.backend_pid
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            killed.append(pid)

    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", before)
    return killed


POSTGRES_ONLY = pytest.mark.parametrize(
    "shared_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@POSTGRES_ONLY
async def test_a_dropped_connection_after_a_refresh_is_retried_and_the_pair_saved(
    ctx: CloudContext, postgres_server: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    user = await add_user(ctx)
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    tokens = provider(ctx, user)
    killed = kill_connections_on_update(ctx, postgres_server, times=2)
    async with tokens.refresh_lock():
        await tokens.update_tokens("rotated-access", "rotated-refresh")
    assert len(killed) == 2
    assert clock.slept == [0.25, 0.5]
    assert await provider(ctx, user).get_refresh_token() == "rotated-refresh"
    assert (await raw_row(ctx, user)).version == 2
    messages = [
        r.getMessage() for r in caplog.records if r.name == "wellpipe.cloud.services.tokens"
    ]
    assert any("saved at attempt 3" in m for m in messages)
    assert not any("rotated" in m for m in caplog.messages)


@POSTGRES_ONLY
async def test_a_long_outage_holds_the_pair_in_memory_until_the_next_refresh(
    ctx: CloudContext, postgres_server: str, clock: FakeClock
) -> None:
    user = await add_user(ctx)
    await save_connection(
        ctx, user_id=user, provider="whoop", tokens=token_set(clock), provider_user_id=None
    )
    killed = kill_connections_on_update(ctx, postgres_server, times=6)
    tokens = provider(ctx, user)
    async with tokens.refresh_lock():
        await tokens.update_tokens("rotated-access", "rotated-refresh")
    assert len(killed) == 6
    assert (await raw_row(ctx, user)).version == 1  # nothing written yet...
    later = provider(ctx, user)  # ...but the process still hands out the rotated pair
    assert await later.get_refresh_token() == "rotated-refresh"
    async with later.refresh_lock():  # the database is back: saved on the next refresh
        pass
    row = await raw_row(ctx, user)
    assert row.version == 2
    assert await read_access_token(ctx, user_id=user, provider="whoop") == "rotated-access"


# ---------------------------------------------------------------- T-1.7 cross-process race
PROCESSES = 2
CALLS = 25
ROUNDS = 2
RACE_CLIENT = "race-client"


class Worker:
    """A `tests.cloud.tokens_race_worker` process, spoken to line by line."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self.stdin = process.stdin
        self._stdout = TextReceiveStream(process.stdout)
        self._buffer = ""

    async def line(self) -> str:
        while "\n" not in self._buffer:
            self._buffer += await self._stdout.receive()
        line, self._buffer = self._buffer.split("\n", 1)
        return line


@asynccontextmanager
async def race_workers(env: dict[str, str]) -> AsyncIterator[list[Worker]]:
    command = [sys.executable, "-m", "tests.cloud.tokens_race_worker", str(CALLS)]
    processes = [
        await anyio.open_process(command, cwd=REPO, env=env, stderr=None) for _ in range(PROCESSES)
    ]
    try:
        started = [Worker(process) for process in processes]
        for worker in started:
            assert await worker.line() == "ready"
        yield started
        for worker in started:
            await worker.stdin.aclose()  # all at once: they shut down side by side
        for worker in started:
            assert await worker.process.wait() == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.aclose()


async def test_two_worker_processes_at_expiry_refresh_exactly_once(
    shared_url: str, tmp_path: Path, history: History
) -> None:
    database_url = shared_url
    clock = SystemClock()
    sandbox = WhoopSandbox(history=history, rate_limits=(RateLimit(1_000_000, 60),))
    async with (
        serve_in_background(sandbox) as origin,
        open_ctx(database_url, KEYS, clock, migrate=False) as ctx,
    ):
        user = await add_user(ctx)
        await save_connection(
            ctx,
            user_id=user,
            provider="whoop",
            tokens=sandbox.issue_token_set(client_id=RACE_CLIENT),
            provider_user_id=None,
        )
        env = {
            **os.environ,
            "WELLPIPE_HOME": str(tmp_path),
            "WELLPIPE_DATABASE_URL": shared_url,
            "WELLPIPE_ENCRYPTION_KEYS": KEYS,
            "RACE_ORIGIN": origin,
            "RACE_USER": user,
        }
        async with race_workers(env) as started:
            for round_ in range(ROUNDS):
                sandbox.auth.expire_access_tokens()
                row = await raw_row(ctx, user)
                await set_columns(ctx, row.id, expires_at=clock.now() - timedelta(seconds=1))
                refreshes, requests = sandbox.auth.refreshes, sandbox.auth.token_requests

                for worker in started:
                    await worker.stdin.send(b"go\n")
                reports = [json.loads(await worker.line()) for worker in started]

                assert [r["failures"] for r in reports] == [[]] * PROCESSES, f"round {round_}"
                assert [r["ok"] for r in reports] == [CALLS] * PROCESSES
                assert sum(r["refreshes"] for r in reports) == 1
                assert sandbox.auth.refreshes == refreshes + 1, f"round {round_}"
                assert sandbox.auth.token_requests == requests + 1  # so 0 invalid_grant
                after = await raw_row(ctx, user)
                assert after.version == row.version + 1
                assert after.status == "active"
                assert after.expires_at > clock.now()
