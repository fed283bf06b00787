"""How long one read may wait on a provider's rate limit before it leaves that provider out.

A question answered by several providers at once should not wait for the slowest one:
when one asks Wellpipe to slow down (a 429, above all one without ``Retry-After``), the
others' answers are ready. The reader gives each provider it asks alongside others a
`Patience` (`MULTI_PROVIDER_PATIENCE_S`); the HTTP layer (`wellpipe.net`) spends it on
every wait for a rate limit and, rather than wait longer than it has left, gives up on
that provider at once (`ProviderRateLimited`), so the answer comes with a note naming it.
A read of one provider alone has no patience set: its retry policy alone bounds its waits.

The patience travels in a context variable, so it reaches the HTTP layer through any
provider without a parameter, and tasks a provider starts inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["MULTI_PROVIDER_PATIENCE_S", "Patience", "current_patience", "patience"]

MULTI_PROVIDER_PATIENCE_S = 2.0
"""The longest a provider's rate limit may hold an answer that several providers give."""


class Patience:
    """Seconds of waiting on rate limits one provider's read may still spend."""

    def __init__(self, seconds: float) -> None:
        self._left = max(0.0, seconds)

    @property
    def left(self) -> float:
        """Seconds still to spend."""
        return self._left

    def allows(self, seconds: float) -> bool:
        """Whether a wait of ``seconds`` fits in what is left."""
        return seconds <= self._left

    def spend(self, seconds: float) -> bool:
        """Spend ``seconds`` if they fit (and say so); else spend nothing and say no."""
        if not self.allows(seconds):
            return False
        self._left -= max(0.0, seconds)
        return True


_CURRENT: ContextVar[Patience | None] = ContextVar("wellpipe_rate_limit_patience", default=None)


def current_patience() -> Patience | None:
    """The patience of the read running in this task, or ``None`` (wait as the policy says)."""
    return _CURRENT.get()


@contextmanager
def patience(seconds: float) -> Iterator[Patience]:
    """Within the block (and the tasks it starts), rate-limit waits spend ``seconds`` at most."""
    current = Patience(seconds)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)
