"""One OS process of the cross-process refresh race (``tests/cli/test_refresh_race.py``).

Run as ``python -m tests.cli.race_worker CALLS`` with ``WELLPIPE_HOME`` set. It opens
the local WHOOP connection and writes ``ready``. Then, for every line on stdin (the
test sends one to every process at once), it runs ``CALLS`` concurrent `one_call` s
and writes one JSON line: ``{"ok": n, "failures": ["ErrorType: message", ...]}``.
It exits at the end of stdin. One process serves every round, like a long-lived
``wellpipe serve``.

``WELLPIPE_RACE_NO_FILE_LOCK=1`` replaces the cross-process file lock with a no-op:
the negative control, which must lose the grant.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from mcp import Client

from wellpipe.cli.connection import open_local_whoop
from wellpipe.cli.env_tokens import EnvTokenProvider
from wellpipe.cli.home import LocalPaths
from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import HealthProvider
from wellpipe.core.provider_info import RateLimit
from wellpipe.mcp.server import build_server, single_provider
from wellpipe.net import Throttle


async def one_call(client: Client) -> None:
    """The unit of work every concurrent caller does: an MCP tool call that reads WHOOP."""
    result = await client.call_tool("get-profile", {})
    if result.is_error:
        raise RuntimeError(str(result.content[0]))


def _without_file_lock() -> None:
    async def no_lock(self: EnvTokenProvider) -> None:
        self._file_lock.release = lambda *a, **k: None  # type: ignore[method-assign]

    EnvTokenProvider._acquire_file_lock = no_lock  # type: ignore[method-assign]


async def main(calls: int) -> None:
    if os.environ.get("WELLPIPE_RACE_NO_FILE_LOCK") == "1":
        _without_file_lock()
    clock = SystemClock()
    # Every round makes CALLS requests per process: lift WHOOP's 100/min client budget so
    # the race, not the throttle, is what the test measures.
    throttle = Throttle([RateLimit(1_000_000, 60)], clock=clock, provider="whoop")
    paths = LocalPaths.from_environ()
    async with open_local_whoop(paths, clock=clock, throttle=throttle) as provider:

        @asynccontextmanager
        async def connect() -> AsyncIterator[HealthProvider]:
            yield provider

        server = build_server(connect=single_provider(connect), clock=clock)
        async with Client(server) as client:
            await _serve_rounds(client, calls)


async def _serve_rounds(client: Client, calls: int) -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while await anyio.to_thread.run_sync(sys.stdin.readline):
        report = await _round(client, calls)
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


async def _round(client: Client, calls: int) -> dict[str, object]:
    ok = 0
    failures: list[str] = []

    async def call() -> None:
        nonlocal ok
        try:
            await one_call(client)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        else:
            ok += 1

    async with anyio.create_task_group() as group:
        for _ in range(calls):
            group.start_soon(call)
    return {"ok": ok, "failures": failures}


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]))
