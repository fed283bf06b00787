"""Reading and rewriting token envelopes by encryption key (`wellpipe.cloud.services.rotation`).

Rows are read with their ciphertexts still sealed; the service opens and reseals them.
Every rewrite is a compare-and-swap on what was read, so a concurrent write wins.
History data keys (``history_keys``) are re-wrapped the same way; the records sealed
under them are never read or rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import Connection, HistoryKey, PendingRevocation

__all__ = [
    "ConnectionReseal",
    "DataKeyRewrap",
    "RevocationReseal",
    "SealedConnection",
    "SealedDataKey",
    "SealedRevocation",
    "connection_counts_by_key",
    "connections_not_under",
    "history_key_counts_by_key",
    "history_keys_not_under",
    "reseal",
    "revocation_envelopes",
    "revocations_after",
    "rewrap_history_keys",
]


@dataclass(frozen=True)
class SealedConnection:
    """A connection's token columns as stored.

    Attributes:
        id: The row's id.
        key_id: The key both token envelopes use.
        version: The row's compare-and-swap version.
        user_id: The account.
        provider: The provider's name.
        access_token: The sealed access token, if any.
        refresh_token: The sealed refresh token, if any.
    """

    id: str
    key_id: str
    version: int
    user_id: str
    provider: str
    access_token: bytes | None
    refresh_token: bytes | None


@dataclass(frozen=True)
class SealedRevocation:
    """A queued revoke's envelope as stored (the row has no key column of its own).

    Attributes:
        id: The row's id.
        provider: The provider's name.
        access_token: The sealed envelope.
    """

    id: str
    provider: str
    access_token: bytes


@dataclass(frozen=True)
class ConnectionReseal:
    """New envelopes for a connection, written only if it is still as it was read.

    Attributes:
        id: The row's id.
        version: The version read (left as it is: rotation changes no business data).
        key_id: The key id read.
        access_token: The new sealed access token, if any.
        refresh_token: The new sealed refresh token, if any.
        new_key_id: The key the new envelopes use.
    """

    id: str
    version: int | None
    key_id: str
    access_token: bytes | None
    refresh_token: bytes | None
    new_key_id: str


@dataclass(frozen=True)
class RevocationReseal:
    """A new envelope for a queued revoke, written only if the row still holds ``old``.

    Attributes:
        id: The row's id.
        old: The envelope read.
        access_token: The new envelope.
    """

    id: str
    old: bytes | None
    access_token: bytes | None


async def connection_counts_by_key(db: Database) -> dict[str, int]:
    """How many connections holding at least one token use each key id."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(Connection.key_id, func.count())
            .where(or_(Connection.access_token.is_not(None), Connection.refresh_token.is_not(None)))
            .group_by(Connection.key_id)
        )
        return dict(rows.all())


async def revocation_envelopes(db: Database) -> list[bytes]:
    """Every queued revoke's sealed envelope."""
    async with db.sessions() as session:
        return list(await session.scalars(select(PendingRevocation.access_token)))


async def connections_not_under(
    db: Database, key_id: str, *, after_id: str, limit: int
) -> list[SealedConnection]:
    """Up to ``limit`` connections whose key is not ``key_id``, by id after ``after_id``."""
    async with db.sessions() as session:
        found = await session.execute(
            select(
                Connection.id,
                Connection.key_id,
                Connection.version,
                Connection.user_id,
                Connection.provider,
                Connection.access_token,
                Connection.refresh_token,
            )
            .where(Connection.key_id != key_id, Connection.id > after_id)
            .order_by(Connection.id)
            .limit(limit)
        )
        return [
            SealedConnection(
                id=row.id,
                key_id=row.key_id,
                version=row.version,
                user_id=row.user_id,
                provider=row.provider,
                access_token=row.access_token,
                refresh_token=row.refresh_token,
            )
            for row in found
        ]


async def revocations_after(db: Database, after_id: str, *, limit: int) -> list[SealedRevocation]:
    """Up to ``limit`` queued revokes by id after ``after_id``, whatever their key."""
    async with db.sessions() as session:
        found = await session.execute(
            select(PendingRevocation.id, PendingRevocation.provider, PendingRevocation.access_token)
            .where(PendingRevocation.id > after_id)
            .order_by(PendingRevocation.id)
            .limit(limit)
        )
        return [
            SealedRevocation(id=row.id, provider=row.provider, access_token=row.access_token)
            for row in found
        ]


async def reseal(db: Database, changes: Sequence[ConnectionReseal | RevocationReseal]) -> int:
    """Write ``changes`` in one transaction, each by compare-and-swap.

    Returns:
        How many rows were rewritten (a row changed since it was read is left alone).
    """
    if not changes:
        return 0
    statements: list[Any] = []
    for change in changes:
        if isinstance(change, ConnectionReseal):
            statements.append(
                update(Connection)
                .where(
                    Connection.id == change.id,
                    Connection.version == change.version,
                    Connection.key_id == change.key_id,
                )
                .values(
                    access_token=change.access_token,
                    refresh_token=change.refresh_token,
                    key_id=change.new_key_id,
                )  # version untouched: no business change
                .execution_options(synchronize_session=False)
            )
        else:
            statements.append(
                update(PendingRevocation)
                .where(
                    PendingRevocation.id == change.id, PendingRevocation.access_token == change.old
                )
                .values(access_token=change.access_token)
                .execution_options(synchronize_session=False)
            )
    rewritten = 0
    async with db.transaction() as session:
        for statement in statements:
            result = await session.execute(statement)
            rewritten += result.rowcount  # type: ignore[attr-defined]
    return rewritten


# ------------------------------------------------------------ history data keys
@dataclass(frozen=True)
class SealedDataKey:
    """A user's wrapped history data key as stored.

    Attributes:
        user_id: The account.
        key_id: The ring key that wraps it.
        wrapped: The envelope.
    """

    user_id: str
    key_id: str
    wrapped: bytes


@dataclass(frozen=True)
class DataKeyRewrap:
    """A data key wrapped anew, written only if the row still holds what was read.

    Attributes:
        user_id: The account.
        old: The envelope read.
        wrapped: The new envelope.
        new_key_id: The ring key of the new envelope.
    """

    user_id: str
    old: bytes
    wrapped: bytes
    new_key_id: str


async def history_key_counts_by_key(db: Database) -> dict[str, int]:
    """How many wrapped history data keys each ring key wraps."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(HistoryKey.key_id, func.count()).group_by(HistoryKey.key_id)
        )
        return {str(key_id): int(count) for key_id, count in rows}


async def history_keys_not_under(
    db: Database, key_id: str, *, after_user: str, limit: int
) -> list[SealedDataKey]:
    """Up to ``limit`` data keys wrapped by a key other than ``key_id``, by user id."""
    async with db.sessions() as session:
        found = await session.execute(
            select(HistoryKey.user_id, HistoryKey.key_id, HistoryKey.wrapped)
            .where(HistoryKey.key_id != key_id, HistoryKey.user_id > after_user)
            .order_by(HistoryKey.user_id)
            .limit(limit)
        )
        return [
            SealedDataKey(user_id=row.user_id, key_id=row.key_id, wrapped=row.wrapped)
            for row in found
        ]


async def rewrap_history_keys(db: Database, changes: Sequence[DataKeyRewrap]) -> int:
    """Write re-wrapped data keys in one transaction, each by compare-and-swap.

    Returns:
        How many were rewritten (a key destroyed or re-wrapped meanwhile is left alone).
    """
    if not changes:
        return 0
    rewritten = 0
    async with db.transaction() as session:
        for change in changes:
            result = await session.execute(
                update(HistoryKey)
                .where(HistoryKey.user_id == change.user_id, HistoryKey.wrapped == change.old)
                .values(wrapped=change.wrapped, key_id=change.new_key_id)
                .execution_options(synchronize_session=False)
            )
            rewritten += result.rowcount  # type: ignore[attr-defined]
    return rewritten
