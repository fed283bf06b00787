"""The oldest and newest day kept of each kind, read from the history's clear index.

`wellpipe.cloud.services.history_status` shows how far a backfill reached without
opening a record: ``history_records.day`` is in the clear (see
`wellpipe.cloud.db.history`), and ``ix_history_records_day`` answers ``min``/``max``
per (user, provider, kind) from the index alone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, func, select

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import HistoryRecord
from wellpipe.core.models import DataKind

__all__ = ["kept_days"]

_RECORDS = cast("Table", HistoryRecord.__table__)


def _as_date(value: date | datetime | str) -> date:
    """A day from an aggregate (SQLite may hand it back as text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def kept_days(db: Database, user_id: str, provider: str) -> dict[DataKind, tuple[date, date]]:
    """For each kind of ``provider`` kept for ``user_id``: its oldest and newest local day.

    Only that user's rows are read; kinds with no record are absent.
    """
    query = (
        select(_RECORDS.c.kind, func.min(_RECORDS.c.day), func.max(_RECORDS.c.day))
        .where(_RECORDS.c.user_id == user_id, _RECORDS.c.provider == provider)
        .group_by(_RECORDS.c.kind)
    )
    async with db.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {
        DataKind(kind): (_as_date(first), _as_date(last))
        for kind, first, last in rows
        if first is not None and last is not None
    }
