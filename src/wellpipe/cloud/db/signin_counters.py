"""Failed sign-in counters: ``upstream_windows`` rows named ``signin:…``, in fixed windows.

The names are the caller's (digests, never an email or an address); they start with
`PREFIX`. Each function runs on its own: a read in its own session, a write in its own
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.tables import UpstreamWindow

__all__ = ["PREFIX", "clear_failures", "count_failure", "failure_counts"]

PREFIX = "signin:"
"""How every sign-in counter's name starts (the table also holds other windows)."""


async def failure_counts(
    db: Database, names: Sequence[str], *, window_s: int, window_start: int
) -> dict[str, int]:
    """The counts of ``names`` in the window starting at ``window_start`` (absent: none yet)."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(UpstreamWindow.provider, UpstreamWindow.count).where(
                UpstreamWindow.provider.in_(list(names)),
                UpstreamWindow.window_s == window_s,
                UpstreamWindow.window_start == window_start,
            )
        )
        counts: dict[str, int] = dict(rows.all())
    return counts


async def count_failure(
    db: Database, names: Sequence[str], *, window_s: int, window_start: int
) -> None:
    """Add one to each of ``names`` in the window, and drop sign-in windows older than it."""
    async with db.transaction() as session:
        for name in names:
            insert = db.insert(UpstreamWindow).values(
                provider=name, window_s=window_s, window_start=window_start, count=1
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["provider", "window_s", "window_start"],
                    set_={"count": UpstreamWindow.count + 1},
                )
            )
        # Old windows are useless: drop them as we go.
        await session.execute(
            delete(UpstreamWindow).where(
                UpstreamWindow.provider.like(f"{PREFIX}%"),
                UpstreamWindow.window_s == window_s,
                UpstreamWindow.window_start < window_start,
            )
        )


async def clear_failures(db: Database, name: str, *, window_s: int) -> None:
    """Delete the counter ``name`` in every window of length ``window_s``."""
    async with db.transaction() as session:
        await session.execute(
            delete(UpstreamWindow).where(
                UpstreamWindow.provider == name, UpstreamWindow.window_s == window_s
            )
        )
