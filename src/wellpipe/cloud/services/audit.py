"""The audit log: append-only events a user can read about their own account.

Events carry what happened, never a value: no token, key, password or health number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Text, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.engine import Database, DriverStatement
from wellpipe.cloud.db.tables import AuditEvent

__all__ = [
    "EVENTS",
    "AuditEntry",
    "append_events",
    "audit",
    "event_row",
    "list_events",
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
    }
)
"""Every event name the service writes."""

_FORBIDDEN_DETAIL = {"token", "access_token", "refresh_token", "password", "secret", "key", "code"}


@dataclass(frozen=True)
class AuditEntry:
    """One event as the dashboard and the export show it."""

    at: datetime
    event: str
    detail: dict[str, Any]
    request_id: str | None


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

    Raises:
        ValueError: an unknown event name, or a detail field that could hold a secret.
    """
    row = event_row(user_id=user_id, event=event, at=at, detail=detail, request_id=request_id)
    session.add(AuditEvent(**row))


_COLUMNS = ("user_id", "at", "event", "detail", "request_id")


def _append_statement(db: Database) -> DriverStatement:
    """PostgreSQL: any number of rows as one prepared ``INSERT … SELECT FROM unnest(arrays)``."""
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


async def append_events(ctx: CloudContext, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append `event_row` rows durably, all or none, in one statement (one thread hop on SQLite)."""
    if not rows:
        return
    if ctx.db.threaded:
        statement = insert(AuditEvent)
        await ctx.db.in_thread(lambda connection: connection.execute(statement, list(rows)))
        return
    found = ctx.state.audit_statement
    if found is None:
        found = ctx.state.audit_statement = _append_statement(ctx.db)
    columns = {f"p_{name}": [row[name] for row in rows] for name in _COLUMNS}
    await ctx.db.run_compiled(found, columns, durable=True)


async def audit(
    ctx: CloudContext,
    *,
    user_id: str | None,
    event: str,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """`record_event` in its own transaction, stamped with the context's clock."""
    async with ctx.db.transaction() as session:
        await record_event(
            session,
            user_id=user_id,
            event=event,
            at=ctx.clock.now(),
            detail=detail,
            request_id=request_id,
        )


async def list_events(ctx: CloudContext, user_id: str, *, limit: int = 200) -> Sequence[AuditEntry]:
    """A user's own events, newest first."""
    async with ctx.db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
        return [
            AuditEntry(
                at=row.at, event=row.event, detail=json.loads(row.detail), request_id=row.request_id
            )
            for row in rows
        ]
