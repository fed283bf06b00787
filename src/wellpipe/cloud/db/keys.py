"""The ``api_keys`` table: a bcrypt hash of each key's secret, found by the key id.

`read_key` is the one read of every authentication and runs on its own autocommit
connection. The other functions run in the ``AsyncSession`` they are given
(``ctx.db.sessions()`` for a read, ``ctx.db.transaction()`` for a write, so a change
and its audit event commit together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.engine import Database, rowcount
from wellpipe.cloud.db.tables import ApiKey, User

__all__ = [
    "KeyIdTaken",
    "KeyRow",
    "add_key",
    "count_active_keys",
    "keys_of_user",
    "read_key",
    "revoke_active_key",
    "touch_key",
]

_KEY_ROW = (
    select(
        ApiKey.id,
        ApiKey.user_id,
        ApiKey.secret_hash,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        User.plan,
    )
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.id == bindparam("p_key_id", type_=String))
)
"""The one read of every authentication: the key row by id, with its owner's plan."""


class KeyIdTaken(Exception):
    """A new key's id is already in use (a collision: mint another key).

    The transaction it was raised in can only be rolled back.
    """


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A key row as authentication reads it (`read_key`).

    Attributes:
        id: The public key id.
        user_id: Its owner.
        secret_hash: The bcrypt hash of its secret.
        revoked_at: When it was revoked, if it was.
        last_used_at: When it last authenticated (to the minute), if ever.
        plan: Its owner's plan.
    """

    id: str
    user_id: str
    secret_hash: str = field(repr=False)
    revoked_at: datetime | None
    last_used_at: datetime | None
    plan: str


async def read_key(db: Database, key_id: str) -> KeyRow | None:
    """The key ``key_id`` joined with its owner's plan, revoked or not; else ``None``.

    One statement on an autocommit connection, given back before this returns.
    """
    async with db.autocommit() as connection:
        row = (await connection.execute(_KEY_ROW, {"p_key_id": key_id})).one_or_none()
    if row is None:
        return None
    return KeyRow(
        id=row.id,
        user_id=row.user_id,
        secret_hash=row.secret_hash,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        plan=row.plan,
    )


async def count_active_keys(session: AsyncSession, user_id: str) -> int:
    """How many keys of ``user_id`` are not revoked."""
    active = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    )
    return active or 0


async def add_key(
    session: AsyncSession,
    *,
    key_id: str,
    user_id: str,
    name: str,
    secret_hash: str,
    last4: str,
    created_at: datetime,
) -> None:
    """Insert a key (written at once, so a taken id is known here).

    Raises:
        KeyIdTaken: a key with this id exists.
    """
    session.add(
        ApiKey(
            id=key_id,
            user_id=user_id,
            name=name,
            secret_hash=secret_hash,
            last4=last4,
            created_at=created_at,
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        raise KeyIdTaken(f"the key id {key_id!r} is taken") from None


async def keys_of_user(session: AsyncSession, user_id: str) -> Sequence[ApiKey]:
    """Every key of ``user_id``, revoked ones included, newest first."""
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return rows.all()


async def revoke_active_key(
    session: AsyncSession, *, user_id: str, key_id: str, at: datetime
) -> bool:
    """Mark ``user_id``'s key ``key_id`` revoked at ``at``; ``False`` if no such active key."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return rowcount(result) == 1


async def touch_key(
    session: AsyncSession, key_id: str, *, now: datetime, unless_since: datetime
) -> None:
    """Set the key's ``last_used_at`` to ``now``, unless it is already after ``unless_since``."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= unless_since),
        )
        .values(last_used_at=now)
    )
