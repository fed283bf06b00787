"""Test doubles for what Wellpipe does not own: time (and, through the sandbox, WHOOP)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import anyio.lowlevel
import httpx2


class FakeClock:
    """A clock whose sleeps return at once, moving time forward instead."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._elapsed = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._elapsed += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds


class FlakyNetwork(httpx2.AsyncBaseTransport):
    """The network between us and the sandbox: it yields to other tasks as a real one does,
    and fails on cue before (or after) delivery."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.failures: list[tuple[str, type[httpx2.TransportError], bool]] = []
        self.hooks: list[tuple[str, Callable[[httpx2.Request], Awaitable[None]]]] = []
        self.after_hooks: list[tuple[str, Callable[[httpx2.Response], Awaitable[None]]]] = []
        self.attempts: list[str] = []
        self.sent: list[httpx2.Request] = []

    def after(self, path_prefix: str, hook: Callable[[httpx2.Response], Awaitable[None]]) -> None:
        """Run ``hook`` once with the response, once the server answered the next match."""
        self.after_hooks.append((path_prefix, hook))

    def before(self, path_prefix: str, hook: Callable[[httpx2.Request], Awaitable[None]]) -> None:
        """Run ``hook`` once, just before the next matching request reaches the server."""
        self.hooks.append((path_prefix, hook))

    def fail(
        self,
        path_prefix: str,
        error: type[httpx2.TransportError],
        *,
        times: int = 1,
        after_delivery: bool = False,
    ) -> None:
        """Fail the next ``times`` matches; with ``after_delivery`` the server acts first."""
        self.failures += [(path_prefix, error, after_delivery)] * times

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await anyio.lowlevel.checkpoint()  # like a real network, let other tasks run meanwhile
        self.attempts.append(request.url.path)
        self.sent.append(request)
        for index, (prefix, hook) in enumerate(self.hooks):
            if request.url.path.startswith(prefix):
                del self.hooks[index]
                await hook(request)
                break
        for index, (prefix, error, after_delivery) in enumerate(self.failures):
            if request.url.path.startswith(prefix):
                del self.failures[index]
                if after_delivery:
                    response = await self.inner.handle_async_request(request)
                    await response.aread()
                raise error("injected network failure", request=request)
        response = await self.inner.handle_async_request(request)
        await anyio.lowlevel.checkpoint()
        for index, (prefix, after_hook) in enumerate(self.after_hooks):
            if request.url.path.startswith(prefix):
                del self.after_hooks[index]
                await response.aread()
                await after_hook(response)
                break
        return response
