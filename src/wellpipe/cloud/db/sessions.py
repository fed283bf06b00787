"""The ``sessions`` table: dashboard sessions, by the SHA-256 of their cookie value.

Every function runs in the ``AsyncSession`` it is given (``ctx.db.sessions()`` for a
read, ``ctx.db.transaction()`` for a write, so a change and its audit event commit
together).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.tables import Session, User

__all__ = [
    "SessionRecord",
    "add_session",
    "delete_expired_session",
    "delete_session",
    "delete_user_sessions",
    "find_session",
]


@dataclass(frozen=True)
class SessionRecord:
    """A session row with what the dashboard needs of its user.

    Attributes:
        user_id: The signed-in user.
        email: Their email.
        plan: Their plan.
        csrf_token: The session's CSRF token.
        expires_at: When the session ends (it may have ended already).
    """

    user_id: str
    email: str
    plan: str
    csrf_token: str
    expires_at: datetime


async def add_session(
    session: AsyncSession,
    *,
    id_digest: str,
    user_id: str,
    csrf_token: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    """Insert a session, first deleting the user's sessions expired by ``created_at``."""
    await session.execute(
        delete(Session).where(Session.user_id == user_id, Session.expires_at <= created_at)
    )
    session.add(
        Session(
            id_digest=id_digest,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


async def find_session(session: AsyncSession, id_digest: str) -> SessionRecord | None:
    """The session with this digest, joined with its user, expired or not; else ``None``."""
    row = (
        await session.execute(
            select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(Session.id_digest == id_digest)
        )
    ).first()
    if row is None:
        return None
    found, user = row
    return SessionRecord(
        user_id=user.id,
        email=user.email,
        plan=user.plan,
        csrf_token=found.csrf_token,
        expires_at=found.expires_at,
    )


async def delete_expired_session(session: AsyncSession, id_digest: str, now: datetime) -> None:
    """Delete the session with this digest if it has expired by ``now``."""
    await session.execute(
        delete(Session).where(Session.id_digest == id_digest, Session.expires_at <= now)
    )


async def delete_session(session: AsyncSession, id_digest: str) -> str | None:
    """Delete the session with this digest: its user's id, or ``None`` if there was none."""
    return await session.scalar(
        delete(Session).where(Session.id_digest == id_digest).returning(Session.user_id)
    )


async def delete_user_sessions(
    session: AsyncSession, user_id: str, *, keep_digest: str | None = None
) -> int:
    """Delete every session of ``user_id`` except the one with digest ``keep_digest``.

    Returns:
        How many sessions were deleted.
    """
    query = delete(Session).where(Session.user_id == user_id)
    if keep_digest is not None:
        query = query.where(Session.id_digest != keep_digest)
    deleted = await session.scalars(query.returning(Session.id_digest))
    return len(deleted.all())
