"""The audit log: append-only events a user can read about their own account.

Events carry what happened, never a value: no token, key, password or health number.
The event names, the row format and `record_event` (inside a caller's transaction) live
with the table in `wellpipe.cloud.db.audit` and are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.audit import (
    EVENTS,
    append_compiled,
    append_in_thread,
    compile_append,
    event_row,
    latest_events,
    record_event,
)

__all__ = [
    "EVENTS",
    "AuditEntry",
    "append_events",
    "audit",
    "event_row",
    "list_events",
    "record_event",
]


@dataclass(frozen=True)
class AuditEntry:
    """One event as the dashboard and the export show it."""

    at: datetime
    event: str
    detail: dict[str, Any]
    request_id: str | None


async def append_events(ctx: CloudContext, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append `event_row` rows durably, all or none, in one statement (one thread hop on SQLite)."""
    if not rows:
        return
    if ctx.db.threaded:
        await append_in_thread(ctx.db, rows)
        return
    statement = ctx.state.audit_statement
    if statement is None:
        statement = ctx.state.audit_statement = compile_append(ctx.db)
    await append_compiled(ctx.db, statement, rows)


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
    return [
        AuditEntry(
            at=row.at, event=row.event, detail=json.loads(row.detail), request_id=row.request_id
        )
        for row in await latest_events(ctx.db, user_id, limit=limit)
    ]
