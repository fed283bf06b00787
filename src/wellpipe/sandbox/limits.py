"""Per-app rate limits over fixed windows, with WHOOP-style ``X-RateLimit-*`` headers.

Windows are fixed and aligned to the epoch. The headers follow the IETF
RateLimit draft as WHOOP uses it: ``X-RateLimit-Limit`` starts with the limit
closest to being hit and then lists every policy
(``"100, 100;window=60, 10000;window=86400"``); ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (seconds) describe that closest limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit

__all__ = ["AppRateLimiter", "RateDecision"]


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may proceed, and the headers to send either way."""

    allowed: bool
    headers: dict[str, str]


class AppRateLimiter:
    """Counts requests per developer app (client id) in fixed windows."""

    def __init__(self, limits: Sequence[RateLimit], *, clock: Clock) -> None:
        self._limits = tuple(limits)
        self._clock = clock
        self._counts: dict[tuple[str, int, int], int] = {}
        self._policy = ", ".join(
            f"{lim.requests};window={int(lim.seconds)}" for lim in self._limits
        )

    def hit(self, client_id: str) -> RateDecision:
        """Count one request for ``client_id`` unless a window is full."""
        if not self._limits:
            return RateDecision(allowed=True, headers={})
        now = self._clock.now().timestamp()
        windows = []
        for index, limit in enumerate(self._limits):
            number = math.floor(now / limit.seconds)
            used = self._counts.get((client_id, index, number), 0)
            reset = (number + 1) * limit.seconds - now
            windows.append((index, limit, number, used, reset))
        allowed = all(used < limit.requests for _, limit, _, used, _ in windows)
        if allowed:
            for index, _, number, _, _ in windows:
                key = (client_id, index, number)
                self._counts[key] = self._counts.get(key, 0) + 1
            windows = [(i, lim, n, used + 1, r) for i, lim, n, used, r in windows]
        _, closest, _, used, reset = min(
            windows, key=lambda w: (w[1].requests - w[3], w[1].seconds)
        )
        headers = {
            "X-RateLimit-Limit": f"{closest.requests}, {self._policy}",
            "X-RateLimit-Remaining": str(max(0, closest.requests - used)),
            "X-RateLimit-Reset": str(max(1, math.ceil(reset))),
        }
        self._forget_old(now)
        return RateDecision(allowed=allowed, headers=headers)

    def _forget_old(self, now: float) -> None:
        if len(self._counts) < 4096:
            return
        self._counts = {
            key: count
            for key, count in self._counts.items()
            if (key[2] + 1) * self._limits[key[1]].seconds > now
        }
