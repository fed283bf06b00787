"""Erasing an account's rows (`wellpipe.cloud.services.deletion` drives the steps)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.authorization import revoke_user_grants
from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import (
    ApiKey,
    AuditEvent,
    Connection,
    HistoryCursor,
    HistoryKey,
    HistoryRecord,
    HistorySpan,
    OAuthState,
    Session,
    UpstreamWindow,
    UsageCounter,
    UsageDaily,
    User,
)

__all__ = ["close_access", "connected_providers", "erase_account"]


async def close_access(db: Database, *, user_id: str, now: datetime) -> None:
    """Stop every way into the account at once, in one transaction.

    Its API keys and its assistants' grants are revoked at ``now`` (their tokens deleted);
    its sessions and pending authorization requests are deleted.
    """
    async with db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await session.execute(delete(Session).where(Session.user_id == user_id))
        await session.execute(delete(OAuthState).where(OAuthState.user_id == user_id))
        await revoke_user_grants(session, user_id, now)  # every connected assistant, at once


async def connected_providers(db: Database, user_id: str) -> list[str]:
    """The providers the account has a connection row at (in any state)."""
    async with db.sessions() as session:
        return list(
            await session.scalars(select(Connection.provider).where(Connection.user_id == user_id))
        )


async def erase_account(
    session: AsyncSession, *, user_id: str, throttle_rows: Sequence[str]
) -> bool:
    """Delete the account's rows and then its user row, in the caller's transaction.

    Usage counters, daily usage, audit events, the ``upstream_windows`` rows named by
    ``throttle_rows`` (its sign-in throttle) and any history written since the history
    was erased (its data key first) go first; foreign keys cascade from the user row to
    anything left.

    Returns:
        Whether the user row was there to delete (``False``: another run finished first).
    """
    await session.execute(delete(UsageCounter).where(UsageCounter.user_id == user_id))
    await session.execute(delete(UsageDaily).where(UsageDaily.user_id == user_id))
    await session.execute(delete(AuditEvent).where(AuditEvent.user_id == user_id))
    await session.execute(delete(UpstreamWindow).where(UpstreamWindow.provider.in_(throttle_rows)))
    for table in (HistoryKey, HistoryRecord, HistorySpan, HistoryCursor):
        await session.execute(delete(table).where(table.user_id == user_id))
    gone = await session.scalar(delete(User).where(User.id == user_id).returning(User.id))
    return gone is not None
