"""Provider apps' shared request windows, as rows of ``upstream_windows``.

`wellpipe.cloud.services.upstream` decides which windows a request counts in and what a
refusal means; here they are counted. A window is one row (``provider`` = its key,
``window_s``, ``window_start``, ``count``), counted by ``INSERT … ON CONFLICT DO UPDATE SET
count = count + n WHERE count + n <= limit RETURNING count``: no row back means it has no
room. A request's windows are counted in one transaction, all or none.

A pause the provider asked for is a sentinel row: ``window_s = PAUSE_WINDOW``,
``window_start = 0`` and ``count`` = the epoch second it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from sqlalchemy import and_, delete, or_, select

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import UpstreamWindow

__all__ = [
    "PAUSE_WINDOW",
    "Taken",
    "Window",
    "forget_ended",
    "pause_until",
    "paused_until",
    "take",
]

PAUSE_WINDOW = 0
"""``window_s`` of the row that holds an app-wide pause (``count`` = epoch second it ends)."""


class Window(Protocol):
    """One fixed window to count a request in."""

    @property
    def key(self) -> str:
        """Whose window: the ``provider`` column (at most 32 characters)."""
        ...

    @property
    def seconds(self) -> int:
        """The window's length."""
        ...

    @property
    def start(self) -> int:
        """The window's start, in epoch seconds."""
        ...

    @property
    def limit(self) -> int:
        """Requests the window allows."""
        ...


class Taken(NamedTuple):
    """What counting a request in its windows did.

    Attributes:
        refused: The index of the first full window (nothing was counted), else ``None``.
        opened: The request was the first of its last window.
    """

    refused: int | None
    opened: bool


class _Rollback(Exception):
    """Undo the increments of a request that does not fit."""


async def paused_until(db: Database, provider: str) -> int | None:
    """The epoch second the provider app's pause ends (``None``: never paused)."""
    async with db.sessions() as session:
        found: int | None = await session.scalar(
            select(UpstreamWindow.count).where(
                UpstreamWindow.provider == provider,
                UpstreamWindow.window_s == PAUSE_WINDOW,
                UpstreamWindow.window_start == 0,
            )
        )
    return found


def _increment(db: Database, window: Window, count: int) -> Any:
    table = UpstreamWindow.__table__
    insert = db.insert(table).values(
        provider=window.key, window_s=window.seconds, window_start=window.start, count=count
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.provider, table.c.window_s, table.c.window_start],
        set_={"count": table.c.count + count},
        where=table.c.count + count <= window.limit,
    ).returning(table.c.count)


async def take(db: Database, windows: Sequence[Window], count: int = 1) -> Taken:
    """Count ``count`` requests in every window, or none when one of them has no room.

    The windows are counted in the order given (so concurrent requests lock the shared
    rows in one order), in one transaction. ``count`` is at most every window's limit.
    """
    if any(count > window.limit for window in windows):
        raise ValueError("count is larger than a window's limit: it could never fit")
    refused: int | None = None
    opened = False
    try:
        async with db.transaction() as session:
            for index, window in enumerate(windows):
                counted = await session.scalar(_increment(db, window, count))
                if counted is None:
                    refused = index
                    raise _Rollback
                if index == len(windows) - 1 and counted == count:
                    opened = True
    except _Rollback:
        return Taken(refused=refused, opened=False)
    return Taken(refused=None, opened=opened)


async def pause_until(db: Database, provider: str, until: int) -> None:
    """Hold the provider app's requests until the epoch second ``until`` (never shortens)."""
    table = UpstreamWindow.__table__
    insert = db.insert(table).values(
        provider=provider, window_s=PAUSE_WINDOW, window_start=0, count=until
    )
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.provider, table.c.window_s, table.c.window_start],
        set_={"count": insert.excluded.count},
        where=table.c.count < insert.excluded.count,
    )
    async with db.transaction() as session:
        await session.execute(statement)


async def forget_ended(db: Database, key: str, *, prefix: str, ended_before: int) -> None:
    """Drop the windows of ``key`` and of keys starting with ``prefix`` that ended in time.

    Pauses are kept. ``ended_before`` is an epoch second: a window ended when its start
    plus its length is before it.
    """
    column = UpstreamWindow.provider
    ours = or_(column == key, column.startswith(prefix, autoescape=True))
    async with db.transaction() as session:
        await session.execute(
            delete(UpstreamWindow).where(
                and_(
                    ours,
                    UpstreamWindow.window_s > PAUSE_WINDOW,
                    UpstreamWindow.window_start + UpstreamWindow.window_s < ended_before,
                )
            )
        )
