"""T-2.5: key rotation, idempotent and resumable; a key removed too early fails loudly.

T-2.5 asks for 10,000 rows; 300 rows in batches of 50 exercise the same paths (several
committed batches, a kill inside one) and keep the suite fast.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.cloud.conftest import new_key_ring
from tests.cloud.tokens_support import add_user, open_ctx, raw_row, set_columns
from tests.fakes import FakeClock
from tests.history.records import whoop_year
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.history import UserHistory, destroy_data_key
from wellpipe.cloud.db.rotation import history_keys_not_under
from wellpipe.cloud.db.tables import (
    Connection,
    HistoryKey,
    HistoryRecord,
    PendingRevocation,
    User,
)
from wellpipe.cloud.rotation_command import rotate_keys
from wellpipe.cloud.security.crypto import (
    Binding,
    MissingKeyError,
    key_id_of,
    revocation_binding,
)
from wellpipe.cloud.services.rotation import (
    count_by_key_id,
    reencrypt,
    rewrap_data_keys,
    rotate,
    select_stale,
)
from wellpipe.cloud.services.tokens import DatabaseTokenProvider, save_connection
from wellpipe.core.models import DataKind, DayRange
from wellpipe.core.tokens import TokenSet

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
RING = new_key_ring("k1", "k2").split(",")
K1, K2 = RING
ROWS = 300
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def plaintexts(n: int) -> tuple[str, str]:
    return f"access-{n:05d}-" + "a" * 20, f"refresh-{n:05d}-" + "r" * 20


async def seed(ctx: CloudContext, rows: int = ROWS) -> None:
    """``rows`` connections under the context's primary key, a dead grant and 2 queued revokes."""
    cipher = ctx.cipher
    users = [User(id=f"u{n:05d}", email=f"u{n}@example.test", created_at=T0) for n in range(rows)]
    connections = []
    for n in range(rows):
        row_id, user_id = f"c{n:05d}", f"u{n:05d}"
        access, refresh = plaintexts(n)
        connections.append(
            Connection(
                id=row_id,
                user_id=user_id,
                provider="whoop",
                status="active",
                access_token=cipher.encrypt(
                    access, Binding(user_id, "whoop", row_id, "access_token")
                ),
                refresh_token=cipher.encrypt(
                    refresh, Binding(user_id, "whoop", row_id, "refresh_token")
                ),
                key_id=cipher.primary_key_id,
                version=n % 7 + 1,
                scopes="offline",
                created_at=T0,
                updated_at=T0,
            )
        )
    dead = User(id="dead", email="dead@example.test", created_at=T0)
    revocations = [
        PendingRevocation(
            id=f"r{n}",
            provider="whoop",
            access_token=cipher.encrypt(f"revoke-{n}", revocation_binding("whoop", f"r{n}")),
            next_attempt_at=T0,
            give_up_at=T0 + timedelta(days=7),
        )
        for n in range(2)
    ]
    async with ctx.db.transaction() as session:
        session.add_all([*users, dead])
        await session.flush()
        session.add_all([*connections, *revocations])
        session.add(
            Connection(
                id="cdead",
                user_id="dead",
                provider="whoop",
                status="needs_reauth",
                key_id=cipher.primary_key_id,
                version=3,
                scopes="",
                created_at=T0,
                updated_at=T0,
            )
        )


async def check_everything_reads(ctx: CloudContext, rows: int = ROWS) -> None:
    """Every token decrypts to what was seeded, versions untouched, under the context's ring."""
    cipher = ctx.cipher
    async with ctx.db.sessions() as session:
        found = list(await session.scalars(select(Connection).order_by(Connection.id)))
        revocations = list(await session.scalars(select(PendingRevocation)))
    assert len(found) == rows + 1
    for row in found:
        if row.id == "cdead":
            assert (row.access_token, row.refresh_token, row.version) == (None, None, 3)
            continue
        n = int(row.id[1:])
        access = cipher.decrypt(
            row.access_token or b"", Binding(row.user_id, "whoop", row.id, "access_token")
        )
        refresh = cipher.decrypt(
            row.refresh_token or b"", Binding(row.user_id, "whoop", row.id, "refresh_token")
        )
        assert (access, refresh) == plaintexts(n)
        assert row.version == n % 7 + 1
    assert sorted(
        cipher.decrypt(r.access_token, revocation_binding("whoop", r.id)) for r in revocations
    ) == ["revoke-0", "revoke-1"]


def run(url: str, keys: str, check: Callable[[CloudContext], Awaitable[T]]) -> T:
    async def go() -> T:
        async with open_ctx(url, keys, FakeClock(T0), migrate=False) as ctx:
            return await check(ctx)

    return anyio.run(go)


def shown(output: str, label: str) -> int:
    """A number from the command's final table."""
    found = re.search(rf"{re.escape(label)}\s*│\s*(\d+)", output)
    assert found, f"{label!r} not in the table:\n{output}"
    return int(found.group(1))


def invoke(url: str, keys: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        rotate_keys,
        list(args),
        env={"WELLPIPE_DATABASE_URL": url, "WELLPIPE_ENCRYPTION_KEYS": keys},
        catch_exceptions=False,
    )
    return result.exit_code, result.output


@pytest.fixture
def seeded(database_url: str) -> str:
    """A migrated database with ``ROWS`` connections and 2 revokes under k1."""

    async def go() -> None:
        async with open_ctx(database_url, K1, FakeClock(T0)) as ctx:
            await seed(ctx)

    anyio.run(go)
    return database_url


def test_rotation_killed_mid_batch_finishes_on_the_next_run(seeded: str, tmp_path: Path) -> None:
    url, both = seeded, f"{K2},{K1}"
    assert run(url, K1, count_by_key_id) == {"k1": ROWS + 2}

    # k1 removed before rotating: loud, and nothing changes.
    code, output = invoke(url, K2)
    assert code == 1
    assert "missing key k1: add it back to WELLPIPE_ENCRYPTION_KEYS" in output
    assert K1.split(":")[1] not in output
    assert K2.split(":")[1] not in output

    async def read_one(ctx: CloudContext) -> None:
        with pytest.raises(MissingKeyError, match="missing key k1: add it back to"):
            await DatabaseTokenProvider(ctx, user_id="u00001", provider="whoop").get_access_token()

    run(url, K2, read_one)
    assert run(url, K1, count_by_key_id) == {"k1": ROWS + 2}

    # k2 first, k1 after it: a run killed in its third batch...
    env = {
        **os.environ,
        "WELLPIPE_HOME": str(tmp_path),
        "WELLPIPE_DATABASE_URL": url,
        "WELLPIPE_ENCRYPTION_KEYS": both,
        "ROTATION_KILL_AFTER": "130",  # in the third batch of 50
    }
    killed = subprocess.run(
        [sys.executable, "-m", "tests.cloud.rotation_worker", "--batch-size", "50"],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert "batch 2: 100 re-encrypted" in killed.stderr.decode()
    # ...keeps the two batches it committed; the third died with its transaction.
    assert run(url, both, count_by_key_id) == {"k1": ROWS + 2 - 100, "k2": 100}

    # The next run finishes the job.
    code, output = invoke(url, both, "--batch-size", "50")
    assert code == 0, output
    assert shown(output, "re-encrypted under k2") == ROWS + 2 - 100 + 1  # + the dead grant
    assert shown(output, "already under k2") == 100
    assert shown(output, "remaining under k2") == ROWS + 2
    assert "Key k1 protects no stored token: you can remove it from WELLPIPE_ENCRYPTION_KEYS" in (
        output
    )
    assert run(url, both, count_by_key_id) == {"k2": ROWS + 2}

    code, output = invoke(url, both)  # idempotent: nothing left to do
    assert code == 0, output
    assert shown(output, "re-encrypted under k2") == 0
    assert shown(output, "already under k2") == ROWS + 2

    run(url, K2, check_everything_reads)  # k1 retired: every token still reads


async def test_a_refresh_during_rotation_wins_and_the_row_is_left_alone(
    database_url: str, clock: FakeClock
) -> None:
    async with open_ctx(database_url, K1, clock) as old:
        users = [await add_user(old) for _ in range(3)]
        for n, user in enumerate(users):
            access, refresh = plaintexts(n)
            await save_connection(
                old,
                user_id=user,
                provider="whoop",
                tokens=TokenSet(access, refresh, clock.now() + timedelta(hours=1)),
                provider_user_id=None,
            )
    async with open_ctx(database_url, f"{K2},{K1}", clock, migrate=False) as ctx:
        stale = await select_stale(ctx, table="connections", after_id="", limit=10)
        assert len(stale) == 3

        refreshing = DatabaseTokenProvider(ctx, user_id=users[1], provider="whoop")
        assert await refreshing.get_refresh_token() == plaintexts(1)[1]
        await refreshing.update_tokens("refreshed-access", "refreshed-refresh")

        assert await reencrypt(ctx, stale) == (2, 1, [])
        assert await reencrypt(ctx, stale) == (0, 3, [])  # a second rotation run: overtaken
        rows = [await raw_row(ctx, user) for user in users]
        assert [row.version for row in rows] == [1, 2, 1]  # rotation never moves versions
        assert {row.key_id for row in rows} == {"k2"}
        assert await refreshing.get_access_token() == "refreshed-access"
        assert await refreshing.get_refresh_token() == "refreshed-refresh"
        assert (await rotate(ctx)).reencrypted == 0
        assert await count_by_key_id(ctx) == {"k2": 3}


async def test_a_tampered_row_is_reported_and_skipped(database_url: str, clock: FakeClock) -> None:
    async with open_ctx(database_url, K1, clock) as old:
        await seed(old, rows=4)
        row = await raw_row(old, "u00002")
        tampered = bytearray(row.refresh_token)
        tampered[-1] ^= 1
        await set_columns(old, row.id, refresh_token=bytes(tampered))
    async with open_ctx(database_url, f"{K2},{K1}", clock, migrate=False) as ctx:
        batches: list[int] = []
        report = await rotate(ctx, batch_size=2, on_batch=lambda r: batches.append(r.reencrypted))
        assert report.unreadable == ["c00002"]
        assert report.reencrypted == 3 + 1 + 2  # 3 readable connections, the dead grant, 2 revokes
        assert batches == [2, 3, 4, 6]
        assert await count_by_key_id(ctx) == {"k1": 1, "k2": 5}
        assert key_id_of((await raw_row(ctx, "u00001")).access_token) == "k2"
    code, output = await anyio.to_thread.run_sync(invoke, database_url, f"{K2},{K1}")
    assert code == 1
    assert "1 row(s) failed their integrity check" in output
    assert "c00002" in output
    assert shown(output, "remaining under k1") == 1
    assert shown(output, "unreadable (left as they are)") == 1


def test_the_command_refuses_a_bad_ring_without_printing_it(tmp_path: Path) -> None:
    weak = "k1:" + "A" * 43  # 32 zero bytes
    for keys, expected in (
        (weak, "one byte repeated"),
        (f"{K2},{K2}", "lists key id k2 twice"),
        ("k1:c2hvcnQ", "is 5 bytes long; it must be exactly 32"),
    ):
        code, output = invoke(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}", keys)
        assert code == 1
        assert expected in output
        assert keys.split(":")[1].split(",")[0] not in output
    assert not (tmp_path / "none.db").exists()  # refused before touching the database


# ------------------------------------------------------------ history data keys
async def sealed_history(ctx: CloudContext) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The raw history rows (records by primary key with their ciphertext) and key rows."""
    async with ctx.db.sessions() as session:
        records = (
            await session.execute(
                select(
                    HistoryRecord.user_id,
                    HistoryRecord.provider,
                    HistoryRecord.kind,
                    HistoryRecord.id_digest,
                    HistoryRecord.sealed,
                ).order_by(HistoryRecord.user_id, HistoryRecord.kind, HistoryRecord.id_digest)
            )
        ).all()
        keys = list(await session.scalars(select(HistoryKey).order_by(HistoryKey.user_id)))
    return [tuple(row) for row in records], keys


async def test_rotation_rewraps_data_keys_and_leaves_every_record_as_it_is(
    database_url: str, clock: FakeClock
) -> None:
    window = DayRange(first=date(2026, 9, 1), last=date(2026, 11, 20))
    async with open_ctx(database_url, K1, clock) as old:
        users = [await add_user(old) for _ in range(3)]
        for user in users:
            await UserHistory.of(old, user).put(whoop_year(window.last, days=80), now=clock.now())
        records_before, keys_before = await sealed_history(old)
        assert {key.key_id for key in keys_before} == {"k1"}
        assert await count_by_key_id(old) == {"k1": 3}

    async with open_ctx(database_url, f"{K2},{K1}", clock, migrate=False) as both:
        report = await rotate(both, batch_size=2)
        assert (report.reencrypted, report.rewrapped, report.batches) == (3, 3, 2)
        assert await count_by_key_id(both) == {"k2": 3}
        assert (await rotate(both)).reencrypted == 0  # idempotent

    async with open_ctx(database_url, K2, clock, migrate=False) as new:  # k1 retired
        records_after, keys_after = await sealed_history(new)
        assert records_after == records_before  # every record byte for byte as it was
        assert [k.user_id for k in keys_after] == [k.user_id for k in keys_before]
        for before, after in zip(keys_before, keys_after, strict=True):
            assert after.key_id == key_id_of(after.wrapped) == "k2"
            assert after.wrapped != before.wrapped
        for user in users:
            kept = await UserHistory.of(new, user).read("whoop", list(DataKind)[:4], window)
            assert len(kept.sleeps) == len(kept.cycles) == 80


async def test_a_data_key_destroyed_during_rotation_stays_destroyed(
    database_url: str, clock: FakeClock
) -> None:
    async with open_ctx(database_url, K1, clock) as old:
        user = await add_user(old)
        await UserHistory.of(old, user).put(whoop_year(date(2026, 11, 20), days=2), now=clock.now())
    async with open_ctx(database_url, f"{K2},{K1}", clock, migrate=False) as ctx:
        stale = await history_keys_not_under(ctx.db, "k2", after_user="", limit=10)
        assert [key.user_id for key in stale] == [user]
        assert await destroy_data_key(ctx.db, user)  # the account is being deleted
        assert await rewrap_data_keys(ctx, stale) == (0, 1, [])
        _, keys = await sealed_history(ctx)
        assert keys == []
