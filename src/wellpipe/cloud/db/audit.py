"""The ``audit_events`` table: which events exist, what a row holds, how rows are written.

A row carries what happened, never a value: no token, key, password or health number
(`event_row` refuses them). `record_event` writes inside a caller's transaction, so any
module that writes in one (a service, or another module here) can audit in it too.
`wellpipe.cloud.services.audit` re-exports these names and adds the use cases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Text, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.engine import Database, DriverStatement
from wellpipe.cloud.db.tables import AuditEvent

__all__ = [
    "EVENTS",
    "append_compiled",
    "append_in_thread",
    "compile_append",
    "event_row",
    "latest_events",
    "record_event",
]

EVENTS = frozenset(
    {
        "account.created",
        "account.deleted",
        "account.exported",
        "signin.succeeded",
        "signin.failed",
        "signout",
        "password.changed",
        "key.created",
        "key.revoked",
        "provider.connected",
        "provider.disconnected",
        "provider.reauth_required",
        "provider.refreshed",
        "plan.changed",
        "quota.exceeded",
        "data.accessed",
        "assistant.connected",
        "assistant.revoked",
        "assistant.token_reused",
    }
)
"""Every event name the service writes."""

_FORBIDDEN_DETAIL = {"token", "access_token", "refresh_token", "password", "secret", "key", "code"}

_COLUMNS = ("user_id", "at", "event", "detail", "request_id")


def event_row(
    *,
    user_id: str | None,
    event: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """One event as an ``audit_events`` row.

    Raises:
        ValueError: an unknown event name, or a detail field that could hold a secret.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    detail = dict(detail or {})
    if _FORBIDDEN_DETAIL & set(detail):
        raise ValueError(
            f"audit details never carry secrets: {sorted(_FORBIDDEN_DETAIL & set(detail))}"
        )
    return {
        "user_id": user_id,
        "at": at,
        "event": event,
        "detail": json.dumps(detail, sort_keys=True, default=str),
        "request_id": request_id,
    }


async def record_event(
    session: AsyncSession,
    *,
    user_id: str | None,
    event: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Append one event inside the caller's transaction.

    Args:
        session: The caller's session, inside its transaction (`Database.transaction`):
            the event commits or rolls back with the caller's own writes.
        user_id: The account the event is about (``None``: no account, e.g. a tombstone).
        event: One of `EVENTS`.
        at: When it happened.
        detail: JSON-ready facts about it, never a value or a secret.
        request_id: The request that caused it, if any.

    Raises:
        ValueError: an unknown event name, or a detail field that could hold a secret.
    """
    row = event_row(user_id=user_id, event=event, at=at, detail=detail, request_id=request_id)
    session.add(AuditEvent(**row))


def compile_append(db: Database) -> DriverStatement:
    """PostgreSQL: any number of rows as one prepared ``INSERT … SELECT FROM unnest(arrays)``.

    Run it with `append_compiled`; compile it once per process.
    """
    types: dict[str, Any] = {
        "user_id": String,
        "at": DateTime(timezone=True),
        "event": String,
        "detail": Text,
        "request_id": String,
    }
    arrays = (bindparam(f"p_{name}", type_=ARRAY(types[name])) for name in _COLUMNS)
    rows = func.unnest(*arrays).table_valued(*_COLUMNS).render_derived()
    statement = insert(AuditEvent).from_select(
        list(_COLUMNS), select(*(rows.c[name] for name in _COLUMNS))
    )
    return DriverStatement.compile(statement, db)


async def append_compiled(
    db: Database, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """PostgreSQL: `event_row` rows, durably, all or none, through `compile_append`'s statement."""
    columns = {f"p_{name}": [row[name] for row in rows] for name in _COLUMNS}
    await db.run_compiled(statement, columns, durable=True)


async def append_in_thread(db: Database, rows: Sequence[Mapping[str, Any]]) -> None:
    """SQLite: `event_row` rows, all or none, in one `Database.in_thread` unit."""
    statement = insert(AuditEvent)
    await db.in_thread(lambda connection: connection.execute(statement, list(rows)))


async def latest_events(db: Database, user_id: str, *, limit: int) -> list[AuditEvent]:
    """Up to ``limit`` of a user's own events, newest first."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
        return list(rows)
