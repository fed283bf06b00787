"""Webhook bookkeeping: deliveries already accepted, accounts by provider id, Oura subscriptions.

No payload is kept: a delivery is remembered by a digest of its identity only
(`remember_delivery`), long enough to outlast the provider's retries (WHOOP about an
hour, Oura about an hour, Google up to 7 days), then forgotten (`forget_deliveries`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from wellpipe.cloud.db.engine import Database, rowcount
from wellpipe.cloud.db.tables import Connection, OuraSubscription, WebhookDelivery

__all__ = [
    "Account",
    "SubscriptionRow",
    "account_for",
    "active_connections",
    "delivery_digest",
    "drop_oura_subscription",
    "forget_deliveries",
    "forget_delivery",
    "oura_subscriptions",
    "remember_delivery",
    "save_oura_subscription",
]


def delivery_digest(provider: str, identity: str) -> str:
    """The key a delivery is remembered by: SHA-256 of the provider and its identity."""
    return hashlib.sha256(f"{provider}\x00{identity}".encode()).hexdigest()


async def remember_delivery(db: Database, *, provider: str, identity: str, now: datetime) -> bool:
    """Remember one delivery; ``False`` when it was already remembered (a redelivery)."""
    digest = delivery_digest(provider, identity)
    statement = (
        db.insert(WebhookDelivery)
        .values(digest=digest, provider=provider, received_at=now)
        .on_conflict_do_nothing(index_elements=["digest"])
        .returning(WebhookDelivery.digest)
    )
    async with db.transaction() as session:
        inserted = (await session.execute(statement)).first()
    return inserted is not None


async def forget_delivery(db: Database, *, provider: str, identity: str) -> None:
    """Forget one delivery (its job could not be queued: the provider's retry must count)."""
    digest = delivery_digest(provider, identity)
    async with db.transaction() as session:
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.digest == digest))


async def forget_deliveries(db: Database, *, before: datetime) -> int:
    """Forget deliveries received before ``before``; how many."""
    async with db.transaction() as session:
        result = await session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.received_at < before)
        )
    return rowcount(result)


@dataclass(frozen=True)
class Account:
    """The Wellpipe connection behind a provider account.

    Attributes:
        user_id: The Wellpipe user.
        provider: The provider.
        status: ``active`` or ``needs_reauth``.
    """

    user_id: str
    provider: str
    status: str


async def account_for(db: Database, *, provider: str, provider_user_id: str) -> Account | None:
    """The connection of ``provider``'s account ``provider_user_id`` (``None``: unknown)."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Connection.user_id, Connection.status)
                .where(
                    Connection.provider == provider,
                    Connection.provider_user_id == provider_user_id,
                )
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return Account(user_id=row[0], provider=provider, status=row[1])


async def active_connections(db: Database) -> list[Account]:
    """Every active connection, by user and provider (for the periodic reconciliation)."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(Connection.user_id, Connection.provider)
            .where(Connection.status == "active")
            .order_by(Connection.user_id, Connection.provider)
        )
        return [Account(user_id=u, provider=p, status="active") for u, p in rows.all()]


@dataclass(frozen=True)
class SubscriptionRow:
    """One of the service's Oura subscriptions as stored."""

    id: str
    event_type: str
    data_type: str
    callback_url: str
    expires_at: datetime | None


async def oura_subscriptions(db: Database) -> list[SubscriptionRow]:
    """Every Oura subscription the service holds."""
    async with db.sessions() as session:
        rows = await session.scalars(select(OuraSubscription))
        return [
            SubscriptionRow(r.id, r.event_type, r.data_type, r.callback_url, r.expires_at)
            for r in rows
        ]


async def save_oura_subscription(db: Database, row: SubscriptionRow, *, now: datetime) -> None:
    """Insert or replace the subscription of ``row``'s event type x data type."""
    async with db.transaction() as session:
        await session.execute(
            delete(OuraSubscription).where(
                OuraSubscription.event_type == row.event_type,
                OuraSubscription.data_type == row.data_type,
            )
        )
        await session.execute(delete(OuraSubscription).where(OuraSubscription.id == row.id))
        session.add(
            OuraSubscription(
                id=row.id,
                event_type=row.event_type,
                data_type=row.data_type,
                callback_url=row.callback_url,
                expires_at=row.expires_at,
                updated_at=now,
            )
        )


async def drop_oura_subscription(db: Database, subscription_id: str) -> None:
    """Forget one subscription (Oura cancelled it, or it is replaced)."""
    async with db.transaction() as session:
        await session.execute(
            delete(OuraSubscription).where(OuraSubscription.id == subscription_id)
        )
