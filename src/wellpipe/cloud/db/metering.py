"""Metering's storage: the monthly counter, the burst minute, the usage record.

`wellpipe.cloud.services.limits` holds the policy (which limits apply, the headers, the
sentences, the Redis burst counter); this module holds the statements that count and
read, and how they run:

* `MeterStatements` builds every statement once per process, with bind parameters
  (`request_params` names them): building a statement costs more than running it on a
  warm connection, and a reused statement keeps its compiled form and cache key.
* `count_request` counts one request: the burst minute (unless Redis counted it), then
  the month and the day. On SQLite one `Database.in_thread` unit; on PostgreSQL
  autocommit statements, the month and the day as one data-modifying ``WITH``.
* `admit_request` also confirms the key the request was made with: on PostgreSQL one
  compiled statement through `Database.run_compiled`, on SQLite one `Database.in_thread`.
* `give_back` (a refund), `read_usage` (the dashboard) and `append_audit_unless_recent`
  (``quota.exceeded`` at most once an hour).

The monthly upsert is ``INSERT … ON CONFLICT (user_id, period) DO UPDATE SET count =
count + 1 WHERE count < limit RETURNING count``: no row back means the month is full, and
no concurrency can overshoot. The burst minute is the same upsert into
``upstream_windows``, so no row back means the minute is full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Integer,
    String,
    bindparam,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from wellpipe.cloud.db.engine import Database, DriverStatement
from wellpipe.cloud.db.tables import (
    ApiKey,
    AuditEvent,
    UpstreamWindow,
    UsageCounter,
    UsageDaily,
    User,
)

__all__ = [
    "Admitted",
    "MeterStatements",
    "Tally",
    "UsageRows",
    "admit_request",
    "append_audit_unless_recent",
    "count_request",
    "give_back",
    "read_usage",
    "request_params",
]


class Tally(NamedTuple):
    """What the counters said about one request.

    Attributes:
        burst: This minute's count after the request; ``None`` when the minute was full
            (nothing counted anywhere).
        month: The month's count after the request; ``None`` when the month was full
            (nothing counted from it). When the minute was full: the month's count as it
            stands, for the headers (``None`` when not read).
    """

    burst: int | None
    month: int | None


class Admitted(NamedTuple):
    """A claimed key that still holds, and the request counted with it.

    Attributes:
        last_used_at: When the key was last recorded as used (UTC; ``None``: never).
        tally: What the counters said.
    """

    last_used_at: datetime | None
    tally: Tally


@dataclass(frozen=True)
class UsageRows:
    """A user's usage as stored.

    Attributes:
        plan: The user's plan (``None``: no such user).
        month_count: Counted requests in the period asked for (0 when none).
        per_day: Counted requests per UTC day since the first day asked for (days
            without a row are absent).
        per_endpoint: Counted requests per endpoint over those days, unordered.
    """

    plan: str | None
    month_count: int
    per_day: dict[date, int]
    per_endpoint: list[tuple[str, int]]


def request_params(
    *,
    user_id: str,
    period: str,
    day: date,
    endpoint: str,
    limit: int | None,
    bucket: str,
    window_start: int,
    burst_limit: int,
) -> dict[str, Any]:
    """The bind parameters every metering statement draws from.

    Args:
        user_id: Whose request it is.
        period: The month it counts in (``YYYY-MM``).
        day: The UTC day it counts in.
        endpoint: Where it counts in the usage record (at most 64 characters).
        limit: The monthly limit (``None``: counted without a cap).
        bucket: The ``upstream_windows.provider`` name of the user's burst counter.
        window_start: The burst minute's start, in epoch seconds.
        burst_limit: Requests allowed per burst minute.
    """
    return {
        "p_user": user_id,
        "p_period": period,
        "p_day": day,
        "p_endpoint": endpoint,
        "p_limit": limit,
        "p_bucket": bucket,
        "p_window": window_start,
        "p_burst_limit": burst_limit,
    }


class MeterStatements:
    """The metering statements of one database, built once with bind parameters.

    Attributes:
        burst: This minute's counter, plus one unless full (``RETURNING count``).
        old_windows: Drops the user's ended burst minutes.
        month_count: Reads the month's count.
        claim: Confirms a claimed key: same hash, not revoked, owner on the claimed plan.
        daily: Adds one to the day's count at the endpoint.
        month: The monthly upsert, by whether it is capped (no row back: full).
        month_and_day: PostgreSQL: the monthly upsert and the day's, as one statement.
        admit: PostgreSQL: `claim`, `burst`, `month` and `daily` as one compiled statement.
    """

    def __init__(self, db: Database, *, burst_window_s: int) -> None:
        """Build the statements for ``db`` (its dialect's ``INSERT``).

        Args:
            db: The database they run on.
            burst_window_s: The burst window's length in seconds.
        """
        insert = db.insert
        self._window_s = burst_window_s
        self.burst: Any = self._burst(insert, None)
        self.old_windows: Any = delete(UpstreamWindow).where(
            UpstreamWindow.provider == bindparam("p_bucket", type_=String),
            UpstreamWindow.window_s == burst_window_s,
            UpstreamWindow.window_start < bindparam("p_window", type_=BigInteger),
        )
        self.month_count: Any = select(UsageCounter.count).where(
            UsageCounter.user_id == bindparam("p_user", type_=String),
            UsageCounter.period == bindparam("p_period", type_=String),
        )
        self.claim: Any = (
            select(ApiKey.last_used_at)
            .join(User, User.id == ApiKey.user_id)
            .where(
                ApiKey.id == bindparam("p_key_id", type_=String),
                ApiKey.user_id == bindparam("p_user", type_=String),
                ApiKey.secret_hash == bindparam("p_hash", type_=String),
                ApiKey.revoked_at.is_(None),
                User.plan == bindparam("p_plan", type_=String),
            )
        )
        day_row = (
            bindparam("p_user", type_=String),
            bindparam("p_day", type_=Date),
            bindparam("p_endpoint", type_=String),
            literal(1, Integer),
        )
        self.daily: Any = self._daily(insert, select(*day_row))
        self.month: dict[bool, Any] = {}
        self.month_and_day: dict[bool, Any] = {}
        self.admit: dict[bool, DriverStatement] = {}
        for capped in (True, False):
            upsert = self._month(insert, capped, None)
            self.month[capped] = upsert
            if db.is_postgres:
                month = upsert.cte("month")
                daily = self._daily(insert, select(*day_row).select_from(month)).cte("daily")
                self.month_and_day[capped] = select(month.c.count).add_cte(daily)
                self.admit[capped] = DriverStatement.compile(
                    self._admit(insert, capped, day_row), db
                )

    def _admit(self, insert: Any, capped: bool, day_row: tuple[Any, ...]) -> Any:
        """PostgreSQL: confirm a claimed key and count the request, in one statement.

        No row back: the claim does not hold. Otherwise ``burst`` is ``NULL`` when the
        minute is full and ``month`` is ``NULL`` when the month is (or the minute was).
        Data-modifying ``WITH`` parts run once each and see the same snapshot; each
        reads the one before through ``RETURNING``, so nothing is counted for a key that
        fails, and nothing from the month for a full minute.
        """
        key = self.claim.cte("claim")
        bucket = self._burst(insert, key).cte("burst")
        month = self._month(insert, capped, bucket).cte("month")
        daily = self._daily(insert, select(*day_row).select_from(month)).cte("daily")
        before = self.month_count.scalar_subquery()
        return (
            select(
                key.c.last_used_at,
                bucket.c.count.label("burst"),
                month.c.count.label("month"),
                before.label("before"),
            )
            .select_from(key.outerjoin(bucket, true()).outerjoin(month, true()))
            .add_cte(daily)
        )

    def _burst(self, insert: Any, after: Any) -> Any:
        """This minute's counter, plus one unless full (one row for each row of ``after``)."""
        row = (
            bindparam("p_bucket", type_=String),
            literal(self._window_s, Integer),
            bindparam("p_window", type_=BigInteger),
            literal(1, Integer),
        )
        rows = select(*row) if after is None else select(*row).select_from(after)
        return (
            insert(UpstreamWindow)
            .from_select(["provider", "window_s", "window_start", "count"], rows)
            .on_conflict_do_update(
                index_elements=[
                    UpstreamWindow.provider,
                    UpstreamWindow.window_s,
                    UpstreamWindow.window_start,
                ],
                set_={"count": UpstreamWindow.count + 1},
                where=UpstreamWindow.count < bindparam("p_burst_limit", type_=Integer),
            )
            .returning(UpstreamWindow.count)
        )

    @staticmethod
    def _month(insert: Any, capped: bool, after: Any) -> Any:
        row = (
            bindparam("p_user", type_=String),
            bindparam("p_period", type_=String),
            literal(1, Integer),
        )
        rows = select(*row) if after is None else select(*row).select_from(after)
        return (
            insert(UsageCounter)
            .from_select(["user_id", "period", "count"], rows)
            .on_conflict_do_update(
                index_elements=[UsageCounter.user_id, UsageCounter.period],
                set_={"count": UsageCounter.count + 1},
                where=(UsageCounter.count < bindparam("p_limit", type_=Integer))
                if capped
                else None,
            )
            .returning(UsageCounter.count)
        )

    @staticmethod
    def _daily(insert: Any, rows: Any) -> Any:
        return (
            insert(UsageDaily)
            .from_select(["user_id", "day", "endpoint", "count"], rows)
            .on_conflict_do_update(
                index_elements=[UsageDaily.user_id, UsageDaily.day, UsageDaily.endpoint],
                set_={"count": UsageDaily.count + 1},
            )
        )


def _count_sqlite(
    statements: MeterStatements,
    connection: Connection,
    params: Mapping[str, Any],
    *,
    burst_count: int | None,
    limit: int | None,
) -> Tally:
    """SQLite, inside `Database.in_thread`'s write transaction: burst, month, day."""
    burst_limit = params["p_burst_limit"]
    if burst_count is None:  # no Redis: the database counts this minute
        burst_count = connection.execute(statements.burst, params).scalar_one_or_none()
        if burst_count == 1:  # a new minute: drop this user's older windows
            connection.execute(statements.old_windows, params)
    month_count: int | None = None
    if burst_count is None or burst_count > burst_limit:
        if limit is not None:  # for the headers only; nothing is counted
            month_count = connection.scalar(statements.month_count, params)
    elif limit is None or limit > 0:
        month = statements.month[limit is not None]
        month_count = connection.execute(month, params).scalar_one_or_none()
        if month_count is not None:
            connection.execute(statements.daily, params)
    return Tally(burst_count, month_count)


async def _count_postgres(
    statements: MeterStatements,
    connection: AsyncConnection,
    params: Mapping[str, Any],
    *,
    burst_count: int | None,
    limit: int | None,
) -> Tally:
    """PostgreSQL, in autocommit: each statement is atomic on its own, none waits on another.

    The month and the day are one statement, committed at once: the user's counter row is
    locked only while PostgreSQL runs it, never across a round trip, so a busy user's
    concurrent requests do not queue behind the network.
    """
    burst_limit = params["p_burst_limit"]
    if burst_count is None:
        burst_count = (await connection.execute(statements.burst, params)).scalar_one_or_none()
        if burst_count == 1:
            await connection.execute(statements.old_windows, params)
    month_count: int | None = None
    if burst_count is None or burst_count > burst_limit:
        if limit is not None:
            month_count = await connection.scalar(statements.month_count, params)
    elif limit is None or limit > 0:
        month = statements.month_and_day[limit is not None]
        month_count = (await connection.execute(month, params)).scalar()
    return Tally(burst_count, month_count)


async def count_request(
    db: Database,
    statements: MeterStatements,
    params: Mapping[str, Any],
    *,
    burst_count: int | None,
    limit: int | None,
) -> Tally:
    """Count one request: the burst minute (unless already counted), then month and day.

    Nothing is counted from the month when the minute is full (the month's count is read
    for the headers instead, when capped), and nothing from the day when the month is.

    Args:
        db: The database.
        statements: ``db``'s statements.
        params: From `request_params`.
        burst_count: This minute's count when Redis counted it (``None``: count here).
        limit: The monthly limit (``None``: counted without a cap; 0: nothing counted).
    """
    if db.threaded:
        return await db.in_thread(
            partial(_count_sqlite, statements, params=params, burst_count=burst_count, limit=limit)
        )
    async with db.autocommit() as connection:
        return await _count_postgres(
            statements, connection, params, burst_count=burst_count, limit=limit
        )


def _admit_sqlite(
    statements: MeterStatements,
    connection: Connection,
    *,
    params: Mapping[str, Any],
    limit: int | None,
) -> Admitted | None:
    """SQLite, inside one write transaction: the claim's check, then `_count_sqlite`."""
    found = connection.execute(statements.claim, params).first()
    if found is None:
        return None
    counted = _count_sqlite(statements, connection, params, burst_count=None, limit=limit)
    return Admitted(found.last_used_at, counted)


async def admit_request(
    db: Database,
    statements: MeterStatements,
    params: Mapping[str, Any],
    *,
    key_id: str,
    secret_hash: str,
    plan: str,
    limit: int | None,
) -> Admitted | None:
    """Confirm a claimed key and count the request with it, in one unit of work.

    On PostgreSQL one compiled statement (plus, once per new minute, the removal of the
    user's ended minutes); on SQLite one `Database.in_thread` unit. The burst minute is
    always counted here.

    Args:
        db: The database.
        statements: ``db``'s statements.
        params: From `request_params`.
        key_id: The key's public id.
        secret_hash: The key's stored hash, as claimed.
        plan: The owner's plan, as claimed.
        limit: The monthly limit (``None``: counted without a cap).

    Returns:
        ``None`` when the claim does not hold (nothing was counted).
    """
    params = {**params, "p_key_id": key_id, "p_hash": secret_hash, "p_plan": plan}
    if db.threaded:
        return await db.in_thread(partial(_admit_sqlite, statements, params=params, limit=limit))
    row = await db.run_compiled(statements.admit[limit is not None], params, durable=False)
    if row is None:
        return None
    last_used_at, burst, month, before = row
    if burst == 1:  # a new minute: drop this user's older windows
        async with db.autocommit() as connection:
            await connection.execute(statements.old_windows, params)
    return Admitted(
        None if last_used_at is None else last_used_at.astimezone(UTC),
        Tally(burst, month if burst is not None else before),
    )


async def give_back(db: Database, *, user_id: str, period: str, day: date, endpoint: str) -> None:
    """Take one request off the month's count and the day's at ``endpoint`` (never below 0)."""
    async with db.transaction() as session:
        await session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.user_id == user_id,
                UsageCounter.period == period,
                UsageCounter.count > 0,
            )
            .values(count=UsageCounter.count - 1)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(UsageDaily)
            .where(
                UsageDaily.user_id == user_id,
                UsageDaily.day == day,
                UsageDaily.endpoint == endpoint,
                UsageDaily.count > 0,
            )
            .values(count=UsageDaily.count - 1)
            .execution_options(synchronize_session=False)
        )


async def read_usage(db: Database, user_id: str, *, period: str, since: date) -> UsageRows:
    """The user's plan, the count of ``period``, and the usage record from ``since`` on."""
    async with db.sessions() as session:
        plan = await session.scalar(select(User.plan).where(User.id == user_id))
        month_count = await session.scalar(
            select(UsageCounter.count).where(
                UsageCounter.user_id == user_id, UsageCounter.period == period
            )
        )
        in_range: Any = (UsageDaily.user_id == user_id) & (UsageDaily.day >= since)
        per_day = (
            await session.execute(
                select(UsageDaily.day, func.sum(UsageDaily.count))
                .where(in_range)
                .group_by(UsageDaily.day)
            )
        ).all()
        per_endpoint = (
            await session.execute(
                select(UsageDaily.endpoint, func.sum(UsageDaily.count))
                .where(in_range)
                .group_by(UsageDaily.endpoint)
            )
        ).all()
    return UsageRows(
        plan=plan,
        month_count=month_count or 0,
        per_day={day: int(total or 0) for day, total in per_day},
        per_endpoint=[(name, int(total or 0)) for name, total in per_endpoint],
    )


async def append_audit_unless_recent(
    db: Database, row: Mapping[str, Any], *, since: datetime
) -> bool:
    """Append an audit row unless its user has the same event after ``since``.

    Args:
        db: The database.
        row: The ``audit_events`` row (from `wellpipe.cloud.services.audit.event_row`).
        since: How far back an earlier event of the same user and name counts.

    Returns:
        Whether the row was appended.
    """
    async with db.transaction() as session:
        recent = await session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.user_id == row["user_id"],
                AuditEvent.event == row["event"],
                AuditEvent.at > since,
            )
            .limit(1)
        )
        if recent is not None:
            return False
        session.add(AuditEvent(**row))
    return True
