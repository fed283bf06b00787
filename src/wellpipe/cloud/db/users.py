"""The ``users`` table: accounts found by id, email or Google subject; passwords and plans.

Every function runs in the ``AsyncSession`` it is given: ``ctx.db.sessions()`` for a
read, ``ctx.db.transaction()`` for a write, so a change and its audit event commit
together. Emails are stored and looked up in their normalized form (the caller's job).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.engine import rowcount
from wellpipe.cloud.db.tables import User

__all__ = [
    "UserConflict",
    "add_user",
    "link_google_subject",
    "lock_user",
    "plan_of",
    "set_password_hash",
    "set_user_plan",
    "user_by_email",
    "user_by_google_subject",
    "user_by_id",
]


class UserConflict(Exception):
    """Another account already has this email or Google subject (a concurrent write won).

    The transaction it was raised in can only be rolled back.
    """


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    """The account with this id, or ``None``."""
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account with this (normalized) email, or ``None``."""
    return await session.scalar(select(User).where(User.email == email))


async def user_by_google_subject(session: AsyncSession, subject: str) -> User | None:
    """The account linked to this Google subject, or ``None``."""
    return await session.scalar(select(User).where(User.google_subject == subject))


async def add_user(
    session: AsyncSession,
    *,
    user_id: str,
    email: str,
    password_hash: str | None,
    google_subject: str | None,
    created_at: datetime,
    plan: str = "FREE",
) -> User:
    """Insert an account (written at once, so its audit events can refer to it).

    Raises:
        UserConflict: the email or the Google subject is taken.
    """
    user = User(
        id=user_id,
        email=email,
        password_hash=password_hash,
        google_subject=google_subject,
        plan=plan,
        created_at=created_at,
    )
    session.add(user)
    await _flush(session)
    return user


async def link_google_subject(session: AsyncSession, user: User, subject: str) -> None:
    """Link ``user`` (read in ``session``) to a Google subject and remove its password.

    Raises:
        UserConflict: another account is linked to this subject.
    """
    user.google_subject = subject
    user.password_hash = None
    await _flush(session)


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise UserConflict("another account has this email or Google subject") from None


async def set_password_hash(session: AsyncSession, user_id: str, password_hash: str) -> None:
    """Replace the account's password hash."""
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def plan_of(session: AsyncSession, user_id: str) -> str | None:
    """The account's plan, or ``None`` when there is no such account."""
    return await session.scalar(select(User.plan).where(User.id == user_id))


async def set_user_plan(session: AsyncSession, user_id: str, plan: str) -> None:
    """Put the account on ``plan``."""
    await session.execute(update(User).where(User.id == user_id).values(plan=plan))


async def lock_user(session: AsyncSession, user_id: str) -> bool:
    """Take the account's row for the rest of the transaction; ``False`` if it is gone.

    A no-op write on the row: concurrent transactions that lock the same account take
    turns (a row lock on PostgreSQL, the write lock on SQLite), so a count read after
    it cannot be raced past a limit.
    """
    result = await session.execute(update(User).where(User.id == user_id).values(plan=User.plan))
    return rowcount(result) > 0
