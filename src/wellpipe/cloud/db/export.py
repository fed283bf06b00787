"""Reading every row linked to one account (`wellpipe.cloud.services.export` shapes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import (
    ApiKey,
    AuditEvent,
    Connection,
    Session,
    UsageCounter,
    UsageDaily,
)

__all__ = ["AccountRows", "account_rows"]


@dataclass(frozen=True)
class AccountRows:
    """An account's rows besides the user row, each list in a stable order.

    Attributes:
        connections: Provider connections, by provider.
        api_keys: API keys (revoked ones too), oldest first.
        months: Monthly usage counters, by period.
        days: Daily usage, by day then endpoint.
        events: Audit events, oldest first.
        active_sessions: How many dashboard sessions had not expired.
    """

    connections: list[Connection]
    api_keys: list[ApiKey]
    months: list[UsageCounter]
    days: list[UsageDaily]
    events: list[AuditEvent]
    active_sessions: int


async def account_rows(db: Database, user_id: str, *, now: datetime) -> AccountRows:
    """Every row of the account besides the user row, in one session (sessions as of ``now``)."""
    async with db.sessions() as session:
        connections = list(
            await session.scalars(
                select(Connection)
                .where(Connection.user_id == user_id)
                .order_by(Connection.provider)
            )
        )
        keys = list(
            await session.scalars(
                select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
            )
        )
        months = list(
            await session.scalars(
                select(UsageCounter)
                .where(UsageCounter.user_id == user_id)
                .order_by(UsageCounter.period)
            )
        )
        days = list(
            await session.scalars(
                select(UsageDaily)
                .where(UsageDaily.user_id == user_id)
                .order_by(UsageDaily.day, UsageDaily.endpoint)
            )
        )
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.user_id == user_id)
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )
        sessions = await session.scalar(
            select(func.count())
            .select_from(Session)
            .where(Session.user_id == user_id, Session.expires_at > now)
        )
    return AccountRows(
        connections=connections,
        api_keys=keys,
        months=months,
        days=days,
        events=events,
        active_sessions=int(sessions or 0),
    )
