"""The real clock. Tests inject a fake one through the `Clock` protocol."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio

__all__ = ["SystemClock"]


class SystemClock:
    """Wall-clock time, a monotonic timer and a real (async) sleep."""

    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait without blocking the event loop."""
        await anyio.sleep(max(0.0, seconds))
