"""The ``connections`` rows: a user's grant at one provider, its tokens still sealed.

Every statement on the table is here; what the token columns hold is not. They arrive
already encrypted (`SealedTokens`, each a `TokenCipher` envelope bound to its row and
field) and leave as they are stored (`ConnectionRow`): sealing and opening is the
caller's (`wellpipe.cloud.services.tokens`).

Every write of the tokens moves the row's ``version`` on, and a token write only lands
on the version its writer read: ``UPDATE ... WHERE id = ? AND version = ?`` (R-1.11), so
a writer whose view is stale never overwrites newer tokens. Access token, refresh token,
expiry and key id are written in one statement (R-1.14).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from wellpipe.cloud.db.engine import Database, rowcount
from wellpipe.cloud.db.tables import AuditEvent, Connection

__all__ = [
    "TRANSIENT_ERRORS",
    "ConnectionInfo",
    "ConnectionRow",
    "SealedTokens",
    "connection_state",
    "delete_connection",
    "list_connections",
    "load_connection",
    "mark_needs_reauth",
    "swap_tokens",
    "upsert_connection",
]

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, OSError)
"""What a failed statement raises when the database (or the way to it) failed, not the
statement: a write that raised one of these may be tried again."""


@dataclass(frozen=True)
class ConnectionInfo:
    """One connection as the dashboard shows it: no token, ever.

    Attributes:
        provider: The provider's name.
        status: ``active`` or ``needs_reauth``.
        status_reason: Why it needs re-authorization, if it does.
        scopes: The scopes the provider granted.
        expires_at: When the current access token expires, if known.
        connected_at: When the current grant was stored.
        provider_user_id: The account's id at the provider, if known.
    """

    provider: str
    status: str
    status_reason: str | None
    scopes: frozenset[str]
    expires_at: datetime | None
    connected_at: datetime
    provider_user_id: str | None


@dataclass(frozen=True)
class ConnectionRow:
    """What a token operation needs of a connection row (ciphertexts still sealed).

    Attributes:
        id: The connection's id.
        user_id: The account.
        provider: The provider's name.
        version: The row's version (the base of a compare-and-swap write).
        status: ``active`` or ``needs_reauth``.
        access_token: The sealed access token, if any.
        refresh_token: The sealed refresh token, if any.
        expires_at: When the access token expires, if known.
        status_reason: Why the grant needs renewing (``needs_reauth`` only).
    """

    id: str
    user_id: str
    provider: str
    version: int
    status: str
    access_token: bytes | None
    refresh_token: bytes | None
    expires_at: datetime | None
    status_reason: str | None = None


@dataclass(frozen=True)
class SealedTokens:
    """Both token columns of one write, already encrypted, and the key that sealed them.

    Attributes:
        access_token: The access token's envelope, or ``None``.
        refresh_token: The refresh token's envelope, or ``None``.
        key_id: The id of the key both were sealed with.
    """

    access_token: bytes | None
    refresh_token: bytes | None
    key_id: str

    def columns(self) -> dict[str, Any]:
        """The columns this write sets."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "key_id": self.key_id,
        }


def _new_id() -> str:
    return secrets.token_hex(16)


async def load_connection(db: Database, user_id: str, provider: str) -> ConnectionRow | None:
    """The user's connection to ``provider`` as stored now, or ``None``.

    Shielded from cancellation: reads happen inside a provider's concurrent requests,
    and a statement cancelled mid-flight (a sibling request failed) costs the pooled
    connection.
    """
    with anyio.CancelScope(shield=True):
        row = await _load_row(db, user_id, provider)
    return row


async def _load_row(db: Database, user_id: str, provider: str) -> ConnectionRow | None:
    async with db.sessions() as session:
        found = (
            await session.execute(
                select(
                    Connection.id,
                    Connection.version,
                    Connection.status,
                    Connection.access_token,
                    Connection.refresh_token,
                    Connection.expires_at,
                    Connection.status_reason,
                ).where(Connection.user_id == user_id, Connection.provider == provider)
            )
        ).one_or_none()
    if found is None:
        return None
    return ConnectionRow(
        id=found.id,
        user_id=user_id,
        provider=provider,
        version=found.version,
        status=found.status,
        access_token=found.access_token,
        refresh_token=found.refresh_token,
        expires_at=found.expires_at,
        status_reason=found.status_reason,
    )


async def upsert_connection(
    db: Database,
    *,
    user_id: str,
    provider: str,
    seal: Callable[[str], SealedTokens],
    expires_at: datetime | None,
    scopes: frozenset[str],
    provider_user_id: str | None,
    now: datetime,
) -> str:
    """Store a new grant as the user's connection to ``provider``, active.

    An existing connection keeps its id and gets the new tokens (its version moves on,
    so a token write based on the previous grant cannot overwrite them); otherwise a
    row is inserted at version 1. Two requests storing the same connection at once both
    end as writes of the one row.

    Args:
        db: The database.
        user_id: The account.
        provider: The provider's name.
        seal: The tokens encrypted for the row of the given id (decided in the
            transaction: the existing row's, or a new one).
        expires_at: When the access token expires, if known.
        scopes: The scopes the provider granted.
        provider_user_id: The account's id at the provider, if known.
        now: When the grant is stored.

    Returns:
        The connection's id.
    """
    joined = " ".join(sorted(scopes))
    for attempt in range(3):
        try:
            async with db.transaction() as session:
                existing = await session.scalar(
                    select(Connection.id).where(
                        Connection.user_id == user_id, Connection.provider == provider
                    )
                )
                row_id = existing or _new_id()
                fields: dict[str, Any] = {
                    **seal(row_id).columns(),
                    "status": "active",
                    "status_reason": None,
                    "expires_at": expires_at,
                    "scopes": joined,
                    "provider_user_id": provider_user_id,
                    "created_at": now,
                    "updated_at": now,
                }
                if existing is None:
                    session.add(
                        Connection(
                            id=row_id, user_id=user_id, provider=provider, version=1, **fields
                        )
                    )
                    await session.flush()
                else:
                    result = await session.execute(
                        update(Connection)
                        .where(Connection.id == existing)
                        .values(version=Connection.version + 1, **fields)
                        .execution_options(synchronize_session=False)
                    )
                    if rowcount(result) != 1:
                        continue  # deleted meanwhile: insert afresh
        except IntegrityError:
            if attempt == 2:
                raise
            continue  # another request stored the same connection first: update it
        return row_id
    raise RuntimeError("the connection kept changing while it was saved")  # pragma: no cover


async def delete_connection(db: Database, *, user_id: str, provider: str) -> bool:
    """Delete the user's connection to ``provider`` and its tokens.

    Returns:
        Whether there was one.
    """
    async with db.transaction() as session:
        result = await session.execute(
            delete(Connection)
            .where(Connection.user_id == user_id, Connection.provider == provider)
            .execution_options(synchronize_session=False)
        )
    return rowcount(result) > 0


async def list_connections(db: Database, user_id: str) -> list[ConnectionInfo]:
    """The user's connections, by provider name (no tokens)."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(
                Connection.provider,
                Connection.status,
                Connection.status_reason,
                Connection.scopes,
                Connection.expires_at,
                Connection.created_at,
                Connection.provider_user_id,
            )
            .where(Connection.user_id == user_id)
            .order_by(Connection.provider)
        )
        return [
            ConnectionInfo(
                provider=row.provider,
                status=row.status,
                status_reason=row.status_reason,
                scopes=frozenset(row.scopes.split()),
                expires_at=row.expires_at,
                connected_at=row.created_at,
                provider_user_id=row.provider_user_id,
            )
            for row in rows
        ]


async def connection_state(
    db: Database, user_id: str, provider: str
) -> tuple[str, str | None] | None:
    """The connection's status and the reason recorded with it, or ``None`` without a row."""
    async with db.sessions() as session:
        found = (
            await session.execute(
                select(Connection.status, Connection.status_reason).where(
                    Connection.user_id == user_id, Connection.provider == provider
                )
            )
        ).one_or_none()
    return None if found is None else (found.status, found.status_reason)


async def swap_tokens(
    db: Database,
    *,
    connection_id: str,
    base_version: int,
    sealed: SealedTokens,
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Write a new pair if the row is still at ``base_version``; the connection is active again.

    One compare-and-swap statement: the tokens, their key id and expiry together, and the
    version moved on.

    Returns:
        Whether the row was written (``False``: it moved on, or is gone).

    Raises:
        DBAPIError: the database failed (one of `TRANSIENT_ERRORS`, as are
            ``OSError`` and the pool's timeout); the write may or may not have
            committed.
    """
    async with db.transaction() as session:
        result = await session.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.version == base_version)
            .values(
                **sealed.columns(),
                expires_at=expires_at,
                status="active",
                status_reason=None,
                version=Connection.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return rowcount(result) == 1


async def mark_needs_reauth(
    db: Database,
    *,
    connection_id: str,
    base_version: int,
    key_id: str,
    reason: str,
    now: datetime,
    audit: Mapping[str, Any],
) -> bool:
    """Delete the row's tokens and mark it ``needs_reauth``, if it is still at ``base_version``.

    Args:
        db: The database.
        connection_id: The connection.
        base_version: The version the caller read.
        key_id: The primary key's id (recorded with the now empty token columns).
        reason: Why the grant is dead (shown to the user).
        now: When.
        audit: The ``audit_events`` row to append in the same transaction if the row
            was marked (``wellpipe.cloud.services.audit.event_row``).

    Returns:
        Whether the row was marked (``False``: it moved on, or is gone).
    """
    async with db.transaction() as session:
        result = await session.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.version == base_version)
            .values(
                access_token=None,
                refresh_token=None,
                key_id=key_id,
                status="needs_reauth",
                status_reason=reason,
                version=Connection.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        marked = rowcount(result) == 1
        if marked:
            session.add(AuditEvent(**audit))
    return marked
