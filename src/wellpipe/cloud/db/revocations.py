"""The ``revocations`` outbox: provider revokes still to retry after an account was deleted.

A row is claimed with a compare-and-swap on its attempt counter (`claim_revocation`), so
two workers never retry the same revoke at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import PendingRevocation

__all__ = ["claim_revocation", "drop_revocation", "due_revocations", "queue_revocation"]


async def queue_revocation(
    db: Database,
    *,
    row_id: str,
    provider: str,
    sealed: bytes,
    next_attempt_at: datetime,
    give_up_at: datetime,
) -> None:
    """Add one outbox row, counted as attempted once; ``sealed`` is its encrypted envelope."""
    async with db.transaction() as session:
        session.add(
            PendingRevocation(
                id=row_id,
                provider=provider,
                access_token=sealed,
                attempts=1,
                next_attempt_at=next_attempt_at,
                give_up_at=give_up_at,
            )
        )


async def due_revocations(db: Database, *, now: datetime, limit: int) -> list[PendingRevocation]:
    """Up to ``limit`` rows whose next attempt is due at ``now``, the longest due first."""
    async with db.sessions() as session:
        return list(
            await session.scalars(
                select(PendingRevocation)
                .where(PendingRevocation.next_attempt_at <= now)
                .order_by(PendingRevocation.next_attempt_at)
                .limit(limit)
            )
        )


async def claim_revocation(
    db: Database, *, row_id: str, attempts: int, next_attempt_at: datetime
) -> bool:
    """Count one more attempt and push the next one back, if nobody claimed the row first.

    Returns:
        Whether the row still had ``attempts`` attempts (this caller claimed it).
    """
    async with db.transaction() as session:
        claimed = await session.execute(
            update(PendingRevocation)
            .where(PendingRevocation.id == row_id, PendingRevocation.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=next_attempt_at)
        )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


async def drop_revocation(db: Database, row_id: str) -> None:
    """Remove one outbox row (revoked, already dead, or given up)."""
    async with db.transaction() as session:
        await session.execute(delete(PendingRevocation).where(PendingRevocation.id == row_id))
