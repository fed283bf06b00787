"""Account deletion (T-6.5, T-6.6): nothing left of the user but a tombstone, exactly one revoke,
a revocation outbox when the provider fails, and a job that finishes when run again."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.to_thread
import httpx2
import pytest
from sqlalchemy import func, select

from tests.cloud.conftest import (
    PG_ADMIN_DSN,
    Cloud,
    drop_postgres_database,
    fresh_postgres_database,
)
from tests.cloud.oauth_support import RESOURCE, issue_token
from tests.history import records as history_records
from wellpipe.cloud.db import Database
from wellpipe.cloud.db.history import UserHistory, erase_history
from wellpipe.cloud.db.tables import (
    ApiKey,
    AuditEvent,
    Base,
    HistoryCursor,
    HistoryKey,
    HistoryRecord,
    PendingRevocation,
    UpstreamWindow,
    UsageCounter,
    UsageDaily,
    User,
)
from wellpipe.cloud.security.crypto import (
    DataKey,
    HistoryDecryptionError,
    TokenCipher,
    cursor_associated_data,
    record_associated_data,
    unwrap_data_key,
)
from wellpipe.cloud.services import deletion
from wellpipe.cloud.services.accounts import create_user, sign_in
from wellpipe.cloud.services.authorization import resolve_access
from wellpipe.cloud.services.connect import begin_connect, complete_connect
from wellpipe.cloud.services.deletion import delete_account, retry_pending_revocations, user_hash
from wellpipe.cloud.services.keys import authenticate, create_key
from wellpipe.cloud.services.sessions import open_session, resolve_session
from wellpipe.cloud.services.tokens import connection_status, read_access_token
from wellpipe.core.errors import WellpipeError
from wellpipe.core.history import SyncCursor
from wellpipe.core.models import DataKind, DayRange, Record, TimeWindow
from wellpipe.sandbox.faults import Fault

PASSWORD = "correct horse battery staple"
REVOKE_PATH = "/developer/v2/user/access"
TOKEN_PATH = "/oauth/oauth2/token"


@dataclass
class Seeded:
    user_id: str
    email: str
    cookie: str
    access_token: str
    api_key: str | None


async def seed_account(cloud: Cloud, email: str, *, member: int = 0, key: bool = False) -> Seeded:
    """An account with everything a user can have: sessions, a key, WHOOP, an assistant,
    usage, audit."""
    user = await create_user(cloud.ctx, email=email, password=PASSWORD)
    await sign_in(cloud.ctx, email=email, password="wrong password here")  # throttle row
    cookie, _ = await open_session(cloud.ctx, user.id)
    await open_session(cloud.ctx, user.id)
    session = await resolve_session(cloud.ctx, cookie)
    assert session is not None
    cloud.sandbox.auth.controls.approve_as = cloud.sandbox.member_ids[member]
    url = await begin_connect(cloud.ctx, session=session, provider="whoop")
    async with httpx2.AsyncClient(transport=cloud.sandbox.transport()) as http:
        location = (await http.get(url)).headers["location"]
    params = dict(parse_qsl(urlsplit(location).query))
    assert (await complete_connect(cloud.ctx, session=session, provider="whoop", params=params)).ok
    await begin_connect(cloud.ctx, session=session, provider="whoop")  # a pending state
    access_token = await read_access_token(cloud.ctx, user_id=user.id, provider="whoop")
    assert access_token is not None
    full_key = None
    if key:
        full_key = (await create_key(cloud.ctx, user_id=user.id, name="laptop")).full_key
    else:
        async with cloud.ctx.db.transaction() as db:
            db.add(
                ApiKey(
                    id=hashlib.sha256(email.encode()).hexdigest()[:8],
                    user_id=user.id,
                    name="desktop",
                    secret_hash="$2b$12$" + "x" * 53,
                    last4="abcd",
                    created_at=cloud.clock.now(),
                )
            )
    assistant_token = await issue_token(cloud.ctx, user.id)  # a connected assistant
    assert await resolve_access(cloud.ctx, assistant_token, RESOURCE) is not None
    async with cloud.ctx.db.transaction() as db:
        db.add(UsageCounter(user_id=user.id, period="2026-11", count=7))
        db.add(UsageDaily(user_id=user.id, day=date(2026, 11, 21), endpoint="get_sleep", count=7))
    await seed_history(cloud, user.id)
    return Seeded(user.id, email, cookie, access_token, full_key)


HISTORY_DAYS = 20


async def seed_history(cloud: Cloud, user_id: str) -> None:
    """A backfill page of kept records (sealed), its cursor, and a covered span."""
    store = UserHistory.of(cloud.ctx, user_id)
    last = date(2026, 11, 20)
    records: list[Record] = []
    for n in range(HISTORY_DAYS):
        day = last - timedelta(days=n)
        records += [history_records.sleep(day), history_records.recovery(day)]
    window = TimeWindow(start=cloud.clock.now() - timedelta(days=365), end=cloud.clock.now())
    cursor = SyncCursor(stream="sleep", window=window, cursor="whoop-next-page-token")
    await store.save_page("whoop", records, cursor, now=cloud.clock.now())
    days = DayRange(first=last - timedelta(days=HISTORY_DAYS - 1), last=last)
    await store.cover("whoop", [DataKind.SLEEP, DataKind.RECOVERY], days, now=cloud.clock.now())


async def rows_of(cloud: Cloud, user_id: str) -> dict[str, int]:
    """Rows referring to ``user_id`` in every table with a ``user_id`` column, and ``users``."""
    counts: dict[str, int] = {}
    async with cloud.ctx.db.sessions() as db:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("user_id")
            if column is None and table.name == "users":
                column = table.c.id
            if column is None:
                continue
            query = select(func.count()).select_from(table).where(column == user_id)
            counts[table.name] = int(await db.scalar(query) or 0)
    return counts


async def tombstones(cloud: Cloud) -> list[AuditEvent]:
    async with cloud.ctx.db.sessions() as db:
        return list(
            await db.scalars(select(AuditEvent).where(AuditEvent.event == "account.deleted"))
        )


async def outbox(cloud: Cloud) -> list[PendingRevocation]:
    async with cloud.ctx.db.sessions() as db:
        return list(await db.scalars(select(PendingRevocation)))


def revokes(cloud: Cloud) -> list[int]:
    return [r.status for r in cloud.sandbox.requests if r.path == REVOKE_PATH]


async def test_deletion_leaves_only_a_tombstone_and_revokes_once(cloud: Cloud) -> None:
    gone = await seed_account(cloud, "gone@example.com", key=True)
    stays = await seed_account(cloud, "stays@example.com", member=1)
    tables_with_users = await rows_of(cloud, gone.user_id)
    assert set(tables_with_users) >= {
        "users",
        "sessions",
        "oauth_states",
        "connections",
        "api_keys",
        "usage_counters",
        "usage_daily",
        "audit_events",
        "oauth_codes",
        "oauth_grants",
        "history_keys",
        "history_records",
        "history_spans",
        "history_cursors",
    }
    assert all(tables_with_users.values()), tables_with_users  # the seed touched every one
    before = await rows_of(cloud, stays.user_id)
    assert gone.api_key is not None
    assert await authenticate(cloud.ctx, gone.api_key) is not None

    report = await delete_account(cloud.ctx, user_id=gone.user_id, request_id="req-del")

    assert report.found
    assert report.revoked == ["whoop"]
    assert report.pending == []
    assert revokes(cloud) == [204]
    assert cloud.sandbox.auth.resolve(gone.access_token) is None
    assert await rows_of(cloud, gone.user_id) == dict.fromkeys(tables_with_users, 0)
    assert await rows_of(cloud, stays.user_id) == before
    assert await authenticate(cloud.ctx, gone.api_key) is None
    assert await resolve_session(cloud.ctx, gone.cookie) is None
    assert await resolve_session(cloud.ctx, stays.cookie) is not None
    assert cloud.sandbox.auth.resolve(stays.access_token) is not None

    [tombstone] = await tombstones(cloud)
    assert tombstone.user_id is None
    assert tombstone.request_id == "req-del"
    detail = json.loads(tombstone.detail)
    assert detail["user"] == hashlib.sha256(gone.user_id.encode()).hexdigest()[:16]
    assert detail["user"] == report.user == user_hash(gone.user_id)
    assert detail["steps"] == report.steps
    assert report.steps == [
        "history_key_destroyed",
        "history_deleted",
        "keys_revoked",
        "sessions_closed",
        "provider_grants_revoked",
        "tokens_destroyed",
        "usage_deleted",
        "audit_deleted",
        "account_deleted",
    ]
    everything = json.dumps(detail)
    assert gone.user_id not in everything
    assert gone.email not in everything
    assert await outbox(cloud) == []
    async with cloud.ctx.db.sessions() as db:
        throttle = await db.scalar(
            select(func.count())
            .select_from(UpstreamWindow)
            .where(UpstreamWindow.provider.like("signin:%"))
        )
    assert throttle == 1  # the bystander's failed sign-in; the deleted account's is gone

    again = await delete_account(cloud.ctx, user_id=gone.user_id)
    assert not again.found
    assert again.steps == []
    assert len(await tombstones(cloud)) == 1
    assert revokes(cloud) == [204]


async def test_a_failed_revoke_goes_to_the_outbox_and_is_retried(cloud: Cloud) -> None:
    gone = await seed_account(cloud, "gone@example.com")
    cloud.sandbox.inject(Fault(path_prefix=REVOKE_PATH, status=500, times=10_000))

    report = await delete_account(cloud.ctx, user_id=gone.user_id)

    assert report.pending == ["whoop"]
    assert report.revoked == []
    assert "WHOOP did not confirm" in report.sentence
    assert "WHOOP account settings" in report.sentence
    assert set(revokes(cloud)) == {500}
    assert sum((await rows_of(cloud, gone.user_id)).values()) == 0  # local tokens are gone
    assert len(await tombstones(cloud)) == 1
    [pending] = await outbox(cloud)
    assert pending.provider == "whoop"
    assert gone.access_token.encode() not in pending.access_token
    assert pending.give_up_at - cloud.clock.now() == timedelta(days=7)

    assert await retry_pending_revocations(cloud.ctx) == 0  # not due yet
    cloud.clock.advance(5 * 60)
    assert await retry_pending_revocations(cloud.ctx) == 0  # WHOOP still fails
    [pending] = await outbox(cloud)
    assert pending.attempts == 2
    assert cloud.sandbox.auth.resolve(gone.access_token) is not None

    cloud.sandbox.faults.clear()
    assert await retry_pending_revocations(cloud.ctx) == 0  # waits its backoff
    cloud.clock.advance(10 * 60)
    assert await retry_pending_revocations(cloud.ctx) == 1
    assert revokes(cloud)[-1] == 204
    assert cloud.sandbox.auth.resolve(gone.access_token) is None
    assert await outbox(cloud) == []
    assert await retry_pending_revocations(cloud.ctx) == 0


async def test_the_outbox_refreshes_an_expired_token_to_revoke(cloud: Cloud) -> None:
    gone = await seed_account(cloud, "gone@example.com")
    cloud.sandbox.inject(Fault(path_prefix=REVOKE_PATH, status=503, times=10_000))
    await delete_account(cloud.ctx, user_id=gone.user_id)
    cloud.sandbox.faults.clear()
    cloud.sandbox.auth.expire_access_tokens()
    refreshes = sum(1 for r in cloud.sandbox.requests if r.path == TOKEN_PATH)

    cloud.clock.advance(2 * 3600)
    assert await retry_pending_revocations(cloud.ctx) == 1
    assert revokes(cloud)[-2:] == [401, 204]
    assert sum(1 for r in cloud.sandbox.requests if r.path == TOKEN_PATH) == refreshes + 1
    assert await outbox(cloud) == []


async def test_the_outbox_gives_up_after_seven_days(cloud: Cloud) -> None:
    gone = await seed_account(cloud, "gone@example.com")
    cloud.sandbox.inject(Fault(path_prefix=REVOKE_PATH, status=500, times=10_000))
    await delete_account(cloud.ctx, user_id=gone.user_id)
    cloud.clock.advance(6 * 24 * 3600)
    assert await retry_pending_revocations(cloud.ctx) == 0
    cloud.clock.advance(2 * 24 * 3600)
    assert await retry_pending_revocations(cloud.ctx) == 1
    assert await outbox(cloud) == []


async def test_a_deletion_interrupted_after_the_revoke_completes_when_run_again(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = await seed_account(cloud, "gone@example.com")

    async def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the worker died")

    monkeypatch.setattr(f"{deletion.__name__}.record_event", crash)
    with pytest.raises(RuntimeError, match="worker died"):
        await delete_account(cloud.ctx, user_id=gone.user_id)
    # Steps 0-2 happened; step 3 rolled back as a whole.
    assert revokes(cloud) == [204]
    assert await connection_status(cloud.ctx, gone.user_id) == []
    assert await resolve_session(cloud.ctx, gone.cookie) is None
    left = await rows_of(cloud, gone.user_id)
    assert left["users"] == 1
    assert left["audit_events"] > 0
    assert left["history_keys"] == left["history_records"] == 0
    assert await tombstones(cloud) == []

    monkeypatch.undo()
    report = await delete_account(cloud.ctx, user_id=gone.user_id)
    assert report.found
    assert report.revoked == []  # nothing left to revoke: no second call
    assert revokes(cloud) == [204]
    assert sum((await rows_of(cloud, gone.user_id)).values()) == 0
    assert len(await tombstones(cloud)) == 1
    async with cloud.ctx.db.sessions() as db:
        assert await db.get(User, gone.user_id) is None


# ------------------------------------------------------------ crypto-shredding
COPIES: list[str] = []
PSQL = ("psql", "-h", "127.0.0.1", "-U", "postgres")


@pytest.fixture
def copies() -> Iterator[None]:
    yield
    while COPIES:
        drop_postgres_database(PG_ADMIN_DSN, COPIES.pop())


async def snapshot(cloud: Cloud, folder: Path) -> str:
    """A copy of the whole database as a backup would hold it; returns its URL.

    PostgreSQL: ``pg_dump`` (plain SQL), restored into a fresh database. SQLite: the
    file copied through SQLite's backup API (the WAL's committed pages included).
    """
    db = cloud.ctx.db
    if db.is_postgres:
        dump = folder / "dump.sql"
        name = db.url.database
        assert name is not None
        await anyio.run_process(
            ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-f", str(dump)]
        )
        copy_name, url = fresh_postgres_database(PG_ADMIN_DSN)
        COPIES.append(copy_name)
        await anyio.run_process(
            [*PSQL, "-d", copy_name, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump)]
        )
        return url
    source_path = db.url.database
    assert source_path is not None
    target = folder / "backup.db"

    def copy() -> None:
        with (
            closing(sqlite3.connect(source_path)) as source,
            closing(sqlite3.connect(target)) as copied,
        ):
            source.backup(copied)

    await anyio.to_thread.run_sync(copy)
    return f"sqlite+aiosqlite:///{target}"


async def history_rows(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Every history key, record and cursor row of a database, as stored."""
    copy = Database(url)
    try:
        async with copy.sessions() as db:
            keys = (await db.execute(select(HistoryKey.__table__))).all()
            records = (await db.execute(select(HistoryRecord.__table__))).all()
            cursors = (await db.execute(select(HistoryCursor.__table__))).all()
    finally:
        await copy.dispose()
    return list(keys), list(records), list(cursors)


def opens(cipher: TokenCipher, keys: list[Any], row: Any, *, cursor: bool = False) -> bool:
    """Whether any data key ``keys`` hold, unwrapped with ``cipher``, opens ``row``."""
    for key in keys:
        for owner in {key.user_id, row.user_id}:
            try:
                data_key = DataKey(unwrap_data_key(cipher, owner, key.wrapped))
            except WellpipeError:
                continue
            aad = (
                cursor_associated_data(row.user_id, row.provider, row.stream)
                if cursor
                else record_associated_data(row.user_id, row.provider, row.kind, row.id_digest)
            )
            try:
                data_key.open(row.sealed, aad)
            except HistoryDecryptionError:
                continue
            return True
    return False


@pytest.mark.usefixtures("copies")
async def test_deletion_shreds_the_history_before_deleting_it(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A backup taken after the key is gone but before the rows are: nothing in it opens.

    The backup is taken by another connection (``pg_dump``, or SQLite's backup API) from
    inside the deletion, just before the history rows are deleted: it holds what was
    committed by then. With the old key ring, every data key left in it (the bystander's)
    is tried on every one of the deleted user's records and cursors.
    """
    gone = await seed_account(cloud, "gone@example.com")
    stays = await seed_account(cloud, "stays@example.com", member=1)
    old_ring = cloud.ctx.cipher
    backups: list[str] = []
    real_erase = erase_history

    async def back_up_then_erase(db: Database, user_id: str) -> int:
        backups.append(await snapshot(cloud, tmp_path))
        return await real_erase(db, user_id)

    monkeypatch.setattr(f"{deletion.__name__}.erase_history", back_up_then_erase)
    report = await delete_account(cloud.ctx, user_id=gone.user_id)
    assert report.steps[:2] == ["history_key_destroyed", "history_deleted"]

    [backup] = backups
    keys, records, cursors = await history_rows(backup)
    assert {k.user_id for k in keys} == {stays.user_id}  # the key was gone, committed
    mine = [r for r in records if r.user_id == gone.user_id]
    theirs = [r for r in records if r.user_id == stays.user_id]
    assert len(mine) == len(theirs) == 2 * HISTORY_DAYS  # the rows were still there
    assert not any(opens(old_ring, keys, row) for row in mine)
    my_cursors = [c for c in cursors if c.user_id == gone.user_id]
    assert my_cursors
    assert not any(opens(old_ring, keys, row, cursor=True) for row in my_cursors)
    # the check can open what it should: the bystander's rows, with the same ring
    assert all(opens(old_ring, keys, row) for row in theirs)
    # and nothing of the records is in the clear: no id, no time, no state, no value
    clear = " ".join(str(value) for row in mine for value in row if not isinstance(value, bytes))
    for needle in ("sleep-2026", "recovery-2026", "T07:00", "scored", "asleep", "whoop-next-page"):
        assert needle not in clear

    # the live database holds nothing of the deleted user's history at all
    live = cloud.ctx.db.url.render_as_string(hide_password=False)
    keys, records, cursors = await history_rows(live)
    assert gone.user_id not in {row.user_id for row in [*keys, *records, *cursors]}
